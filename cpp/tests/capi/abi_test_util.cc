#include "capi/abi_test_util.h"

namespace kiln::capi_test {

std::shared_ptr<arrow::Schema> PositionVelocity() {
  return arrow::schema({arrow::field("position__x", arrow::float64(), false),
                        arrow::field("position__y", arrow::float64(), false),
                        arrow::field("velocity__dx", arrow::float64(), false),
                        arrow::field("velocity__dy", arrow::float64(), false)});
}

namespace {
std::shared_ptr<arrow::Array> D(const std::vector<double>& v) {
  arrow::DoubleBuilder b;
  EXPECT_TRUE(b.AppendValues(v).ok());
  return b.Finish().ValueOrDie();
}
}  // namespace

std::shared_ptr<arrow::RecordBatch> Batch(const std::vector<double>& x, const std::vector<double>& y,
                                          const std::vector<double>& dx, const std::vector<double>& dy) {
  return arrow::RecordBatch::Make(PositionVelocity(), static_cast<int64_t>(x.size()), {D(x), D(y), D(dx), D(dy)});
}

CBatch::CBatch(const std::shared_ptr<arrow::RecordBatch>& b) {
  EXPECT_TRUE(arrow::ExportRecordBatch(*b, &array, &schema).ok());
}

CBatch::~CBatch() {
  if (array.release) array.release(&array);
  if (schema.release) schema.release(&schema);
}

std::shared_ptr<arrow::RecordBatch> CBatch::Import() { return arrow::ImportRecordBatch(&array, &schema).ValueOrDie(); }

CSchema::CSchema(const std::shared_ptr<arrow::Schema>& s) { EXPECT_TRUE(arrow::ExportSchema(*s, &schema).ok()); }
CSchema::~CSchema() {
  if (schema.release) schema.release(&schema);
}

arct_world* NewWorld(const char* root, const char* world_id, const char* run_id) {
  arct_world* w = nullptr;
  int32_t rc = arct_world_create(world_id, run_id, root, "ns", nullptr, &w);
  EXPECT_EQ(rc, ARCT_OK) << LastError();
  return w;
}

std::string LastError() {
  const char* m = arct_last_error_message();
  return m ? m : "(none)";
}

std::shared_ptr<arrow::Table> ReadAll(arct_world* w, const char* table, const arct_read_filter* filter) {
  ArrowArrayStream stream{};
  EXPECT_EQ(arct_world_query(w, table, filter, &stream), ARCT_OK) << LastError();
  auto reader = arrow::ImportRecordBatchReader(&stream).ValueOrDie();
  return reader->ToTable().ValueOrDie();
}

}  // namespace kiln::capi_test
