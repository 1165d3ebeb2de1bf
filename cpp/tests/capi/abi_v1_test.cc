// Version-1 functions and boundary rules of the C ABI (specs/world.md §7.1–§7.4, items 44–45).
#include <cmath>

#include "capi/abi_test_util.h"

namespace kiln::capi_test {
namespace {

TEST(AbiV1, VersionLeavesTheLastErrorUntouched) {  // item 44
  ArrowArray a{};
  ArrowSchema s{};
  ASSERT_EQ(arct_record_batch_roundtrip(nullptr, &s, &a, &s), ARCT_ERR_NULL_POINTER);
  std::string before = LastError();
  EXPECT_EQ(arct_ffi_version(), 2u);
  EXPECT_EQ(arct_ffi_version(), ARCT_ABI_VERSION);
  EXPECT_EQ(LastError(), before);
  arct_clear_last_error();
  EXPECT_EQ(arct_last_error_message(), nullptr);
}

TEST(AbiV1, RoundTripAndMovement) {  // item 45
  CBatch in(Batch({0, 10}, {1, 2}, {2, 3}, {-0.5, 1.5}));
  CBatch out;
  ASSERT_EQ(arct_record_batch_roundtrip(&in.array, &in.schema, &out.array, &out.schema), ARCT_OK);
  EXPECT_TRUE(in.moved());
  auto rt = out.Import();
  EXPECT_EQ(rt->num_rows(), 2);
  EXPECT_EQ(rt->schema()->field(0)->name(), "position__x");

  CBatch min(Batch({0, 10}, {1, 2}, {2, 3}, {-0.5, 1.5}));
  CBatch mout;
  ASSERT_EQ(arct_movement_process(&min.array, &min.schema, &mout.array, &mout.schema, 1.0, 0), ARCT_OK);
  auto moved = mout.Import();
  auto x = std::static_pointer_cast<arrow::DoubleArray>(moved->GetColumnByName("position__x"));
  auto y = std::static_pointer_cast<arrow::DoubleArray>(moved->GetColumnByName("position__y"));
  EXPECT_EQ(x->Value(0), 2);
  EXPECT_EQ(x->Value(1), 13);
  EXPECT_EQ(y->Value(0), 0.5);
  EXPECT_EQ(y->Value(1), 3.5);
  EXPECT_EQ(arct_last_error_message(), nullptr);
}

TEST(AbiV1, MissingMovementColumnKeepsTheSourceMessage) {  // item 45
  auto b = Batch({0}, {0}, {0}, {0});
  CBatch in(b->RemoveColumn(3).ValueOrDie());
  CBatch out;
  ASSERT_EQ(arct_movement_process(&in.array, &in.schema, &out.array, &out.schema, 1.0, 0), ARCT_ERR_ARROW);
  EXPECT_EQ(LastError(), "Schema error: missing required movement column: velocity__dy");
  EXPECT_TRUE(in.moved());
  EXPECT_EQ(out.array.release, nullptr);
}

TEST(AbiV1, NonFiniteDtNullsAndNonEmptyOutputs) {
  CBatch in(Batch({0}, {0}, {0}, {0}));
  CBatch out;
  EXPECT_EQ(arct_movement_process(&in.array, &in.schema, &out.array, &out.schema, NAN, 0), ARCT_ERR_INVALID_ARGUMENT);
  CBatch in2(Batch({0}, {0}, {0}, {0}));
  CBatch full(Batch({1}, {1}, {1}, {1}));
  EXPECT_EQ(arct_record_batch_roundtrip(&in2.array, &in2.schema, &full.array, &full.schema), ARCT_ERR_OUTPUT_NOT_EMPTY);
  EXPECT_FALSE(in2.moved());  // rejected before the move point: input untouched
  EXPECT_EQ(arct_record_batch_roundtrip(&in2.array, nullptr, &out.array, &out.schema), ARCT_ERR_NULL_POINTER);
  EXPECT_FALSE(in2.moved());
  EXPECT_TRUE(arct_arrow_c_data_is_present(&in2.schema, &in2.array));
  EXPECT_FALSE(arct_arrow_c_data_is_present(nullptr, &in2.array));
}

TEST(AbiV1, NonStructOrReleasedInputIsArrowError) {
  CBatch in(Batch({0}, {0}, {0}, {0}));
  CBatch out;
  in.array.release(&in.array);
  EXPECT_EQ(arct_record_batch_roundtrip(&in.array, &in.schema, &out.array, &out.schema), ARCT_ERR_ARROW);
  EXPECT_EQ(in.schema.release, nullptr);  // moved (and released by the library)
  ArrowArray arr{};
  ArrowSchema sch{};
  auto plain = arrow::MakeArrayOfNull(arrow::float64(), 3).ValueOrDie();
  ASSERT_TRUE(arrow::ExportArray(*plain, &arr, &sch).ok());
  EXPECT_EQ(arct_record_batch_roundtrip(&arr, &sch, &out.array, &out.schema), ARCT_ERR_ARROW);
  EXPECT_EQ(arr.release, nullptr);
  EXPECT_EQ(sch.release, nullptr);
  EXPECT_NE(LastError().find("+s"), std::string::npos);
}

}  // namespace
}  // namespace kiln::capi_test
