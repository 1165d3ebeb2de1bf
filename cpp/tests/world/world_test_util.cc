#include "world/world_test_util.h"

#include <gtest/gtest.h>

namespace kiln::world::testing {

std::shared_ptr<arrow::Schema> PositionVelocitySchema() {
  return arrow::schema({arrow::field("position__x", arrow::float64(), false),
                        arrow::field("position__y", arrow::float64(), false),
                        arrow::field("velocity__dx", arrow::float64(), false),
                        arrow::field("velocity__dy", arrow::float64(), false)});
}

std::shared_ptr<arrow::Schema> PositionSchema() {
  return arrow::schema({arrow::field("position__x", arrow::float64(), false)});
}

namespace {
std::shared_ptr<arrow::Array> D(const std::vector<double>& v) {
  arrow::DoubleBuilder b;
  EXPECT_TRUE(b.AppendValues(v).ok());
  return b.Finish().ValueOrDie();
}
}  // namespace

std::shared_ptr<arrow::RecordBatch> PositionVelocityBatch(const std::vector<double>& x, const std::vector<double>& y,
                                                          const std::vector<double>& dx,
                                                          const std::vector<double>& dy) {
  return arrow::RecordBatch::Make(PositionVelocitySchema(), static_cast<std::int64_t>(x.size()), {D(x), D(y), D(dx), D(dy)});
}

std::shared_ptr<arrow::RecordBatch> PositionBatch(const std::vector<double>& x) {
  return arrow::RecordBatch::Make(PositionSchema(), static_cast<std::int64_t>(x.size()), {D(x)});
}

std::unique_ptr<World> MemoryWorld() {
  WorldOptions o;
  o.world_id = "w";
  o.run_id = "r";
  auto w = World::Open(o);
  EXPECT_TRUE(w.ok()) << w.status().ToString();
  return std::move(*w);
}

std::shared_ptr<arrow::RecordBatch> Ledger(World& w, const std::string& table, const ReadFilter& filter) {
  std::shared_ptr<arrow::Schema> schema;
  auto r = w.Query(table, Source::kLedger, filter, &schema);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  auto t = arrow::Table::FromRecordBatches(schema, *r).ValueOrDie();
  return t->CombineChunksToBatch().ValueOrDie();
}

std::vector<double> Doubles(const std::shared_ptr<arrow::RecordBatch>& b, const std::string& column) {
  auto a = std::static_pointer_cast<arrow::DoubleArray>(b->GetColumnByName(column));
  return std::vector<double>(a->raw_values(), a->raw_values() + a->length());
}

std::vector<std::int32_t> Ints(const std::shared_ptr<arrow::RecordBatch>& b, const std::string& column) {
  auto a = std::static_pointer_cast<arrow::Int32Array>(b->GetColumnByName(column));
  return std::vector<std::int32_t>(a->raw_values(), a->raw_values() + a->length());
}

std::vector<bool> Bools(const std::shared_ptr<arrow::RecordBatch>& b, const std::string& column) {
  auto a = std::static_pointer_cast<arrow::BooleanArray>(b->GetColumnByName(column));
  std::vector<bool> out;
  for (std::int64_t i = 0; i < a->length(); ++i) out.push_back(a->Value(i));
  return out;
}

}  // namespace kiln::world::testing
