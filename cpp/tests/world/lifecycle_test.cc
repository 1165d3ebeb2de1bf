// Tick lifecycle contracts of specs/world.md §3 on the memory store.
#include <gtest/gtest.h>

#include "kiln/core/error_codes.h"
#include "world/world_test_util.h"

namespace kiln::world {
namespace {

using namespace testing;
constexpr const char* kT = "pv";

int C(Code c) { return static_cast<int>(c); }

class Lifecycle : public ::testing::Test {
 protected:
  void SetUp() override {
    w_ = MemoryWorld();
    ASSERT_TRUE(w_->RegisterTable(kT, PositionVelocitySchema()).ok());
    ASSERT_TRUE(w_->AddMovement(1.0, 0).ok());  // AddOne on x when dx = 1
  }
  std::vector<std::int32_t> Spawn(std::vector<double> x) {
    std::vector<double> y(x.size(), 0.0), dx(x.size(), 1.0), dy(x.size(), 0.0);
    auto ids = w_->Spawn(kT, PositionVelocityBatch(x, y, dx, dy));
    EXPECT_TRUE(ids.ok()) << ids.status().ToString();
    return *ids;
  }
  std::shared_ptr<arrow::RecordBatch> AtTick(std::int32_t t) {
    ReadFilter f;
    f.ticks = std::vector<std::int32_t>{t};
    return Ledger(*w_, kT, f);
  }
  std::unique_ptr<World> w_;
};

TEST_F(Lifecycle, InitialConditionsLandRawThenTransform) {  // S1
  Spawn({5.0});
  ASSERT_TRUE(w_->Run(3, nullptr, nullptr).ok());
  EXPECT_EQ(Doubles(AtTick(0), "position__x"), std::vector<double>{5.0});
  EXPECT_EQ(Doubles(AtTick(1), "position__x"), std::vector<double>{6.0});
  EXPECT_EQ(Doubles(AtTick(2), "position__x"), std::vector<double>{7.0});
  EXPECT_EQ(w_->info().tick, 3);
}

TEST_F(Lifecycle, MidRunSpawn) {  // S2
  Spawn({0.0});
  ASSERT_TRUE(w_->Run(2, nullptr, nullptr).ok());
  Spawn({100.0});
  ASSERT_TRUE(w_->Run(2, nullptr, nullptr).ok());
  EXPECT_EQ(Doubles(AtTick(2), "position__x"), (std::vector<double>{2.0, 100.0}));
  EXPECT_EQ(Doubles(AtTick(3), "position__x"), (std::vector<double>{3.0, 101.0}));
}

TEST_F(Lifecycle, SpawnCancelLeavesNoRow) {  // S3
  auto ids = Spawn({1.0, 2.0});
  ASSERT_TRUE(w_->Despawn(&ids[0], 1).ok());
  ASSERT_TRUE(w_->Step().ok());
  auto all = Ledger(*w_, kT);
  EXPECT_EQ(Ints(all, "entity_id"), std::vector<std::int32_t>{ids[1]});
}

TEST_F(Lifecycle, DuplicateExplicitSpawnKeepsFirstPositionLastValue) {  // S5
  std::int32_t one = 1;
  ASSERT_TRUE(w_->SpawnWithIds(kT, PositionVelocityBatch({1.0}, {0}, {1}, {0}), &one, 1).ok());
  ASSERT_TRUE(w_->SpawnWithIds(kT, PositionVelocityBatch({99.0}, {0}, {1}, {0}), &one, 1).ok());
  ASSERT_TRUE(w_->Step().ok());
  auto all = Ledger(*w_, kT);
  EXPECT_EQ(Ints(all, "entity_id"), std::vector<std::int32_t>{1});
  EXPECT_EQ(Doubles(all, "position__x"), std::vector<double>{99.0});
}

TEST_F(Lifecycle, ExplicitIdAdvancesCounter) {  // S6
  std::int32_t seven = 7;
  ASSERT_TRUE(w_->SpawnWithIds(kT, PositionVelocityBatch({1.0}, {0}, {1}, {0}), &seven, 1).ok());
  EXPECT_EQ(Spawn({2.0}), std::vector<std::int32_t>{8});
}

TEST_F(Lifecycle, TombstoneCarriesProcessedValues) {  // S8
  auto ids = Spawn({1.5});
  ASSERT_TRUE(w_->Step().ok());
  ASSERT_TRUE(w_->Despawn(ids.data(), 1).ok());
  ASSERT_TRUE(w_->Step().ok());
  auto t1 = AtTick(1);
  EXPECT_EQ(Doubles(t1, "position__x"), std::vector<double>{2.5});
  EXPECT_EQ(Bools(t1, "is_active"), std::vector<bool>{false});
  ReadFilter f;
  f.ticks = std::vector<std::int32_t>{1};
  f.active_only = true;
  EXPECT_EQ(Ledger(*w_, kT, f)->num_rows(), 0);
  // S19: the emptied table was processed once more and is now inactive.
  EXPECT_TRUE(w_->Tables(true).empty());
}

TEST_F(Lifecycle, MigrationWritesTombstoneAndRawRowInNewTable) {  // S10
  ASSERT_TRUE(w_->RegisterTable("p", PositionSchema()).ok());
  auto ids = Spawn({1.0});
  ASSERT_TRUE(w_->Step().ok());
  ASSERT_TRUE(w_->Migrate("p", PositionBatch({50.0}), ids.data(), 1).ok());
  ASSERT_TRUE(w_->Step().ok());
  auto old_rows = AtTick(1);
  EXPECT_EQ(Bools(old_rows, "is_active"), std::vector<bool>{false});
  EXPECT_EQ(Doubles(old_rows, "position__x"), std::vector<double>{2.0});
  ReadFilter f;
  f.ticks = std::vector<std::int32_t>{1};
  auto new_rows = Ledger(*w_, "p", f);
  EXPECT_EQ(Doubles(new_rows, "position__x"), std::vector<double>{50.0});
  EXPECT_EQ(Bools(new_rows, "is_active"), std::vector<bool>{true});
}

TEST_F(Lifecycle, RejectedMigrationLeavesPendingSpawn) {  // S12
  ASSERT_TRUE(w_->RegisterTable("p", PositionSchema()).ok());
  auto ids = Spawn({1.0});
  auto st = w_->Migrate("p", PositionBatch({}), ids.data(), 1);
  EXPECT_EQ(st.code(), C(Code::ARCT_ERR_ROW_COUNT));
  ASSERT_TRUE(w_->Step().ok());
  EXPECT_EQ(Doubles(Ledger(*w_, kT), "position__x"), std::vector<double>{1.0});
}

TEST_F(Lifecycle, BadInputIsRejectedBeforeAnyChange) {
  auto wrong_type = arrow::RecordBatch::Make(
      arrow::schema({arrow::field("position__x", arrow::int64(), false), arrow::field("position__y", arrow::float64()),
                     arrow::field("velocity__dx", arrow::float64()), arrow::field("velocity__dy", arrow::float64())}),
      0, {arrow::MakeArrayOfNull(arrow::int64(), 0).ValueOrDie(), arrow::MakeArrayOfNull(arrow::float64(), 0).ValueOrDie(),
          arrow::MakeArrayOfNull(arrow::float64(), 0).ValueOrDie(), arrow::MakeArrayOfNull(arrow::float64(), 0).ValueOrDie()});
  EXPECT_EQ(w_->Spawn(kT, wrong_type).status().code(), C(Code::ARCT_ERR_COLUMN_TYPE));
  EXPECT_EQ(w_->Spawn(kT, PositionBatch({1.0})).status().code(), C(Code::ARCT_ERR_MISSING_COLUMN));
  EXPECT_EQ(w_->Spawn("nope", PositionBatch({1.0})).status().code(), C(Code::ARCT_ERR_UNKNOWN_TABLE));
  std::int32_t zero = 0, missing = 42;
  EXPECT_EQ(w_->SpawnWithIds(kT, PositionVelocityBatch({1}, {0}, {1}, {0}), &zero, 1).code(),
            C(Code::ARCT_ERR_INVALID_ENTITY_ID));
  EXPECT_EQ(w_->Despawn(&missing, 1).code(), C(Code::ARCT_ERR_UNKNOWN_ENTITY));
  EXPECT_EQ(w_->ReserveIds(0).status().code(), C(Code::ARCT_ERR_INVALID_ARGUMENT));
  EXPECT_NE(w_->ReserveIds(-5).status().message().find("n >= 1"), std::string::npos);
  auto ids = Spawn({1.0});
  ASSERT_TRUE(w_->Step().ok());
  EXPECT_EQ(w_->SpawnWithIds(kT, PositionVelocityBatch({1}, {0}, {1}, {0}), ids.data(), 1).code(),
            C(Code::ARCT_ERR_ENTITY_EXISTS));
  EXPECT_EQ(w_->info().next_entity_id, 2);
  EXPECT_EQ(w_->info().registered_entities, 1);
}

TEST_F(Lifecycle, StageFailureIsRetryable) {  // S22
  auto ids = Spawn({1.0});
  ASSERT_TRUE(w_->SetFaultPlan("fail:stage").ok());
  auto r = w_->Step();
  EXPECT_EQ(r.status().code(), C(Code::ARCT_ERR_STORE_APPEND));
  EXPECT_EQ(w_->info().tick, 0);
  ASSERT_TRUE(w_->Step().ok());
  EXPECT_EQ(Ledger(*w_, kT)->num_rows(), 1);
}

TEST_F(Lifecycle, PartialPublicationPoisons) {  // S23 (second table)
  ASSERT_TRUE(w_->RegisterTable("p", PositionSchema()).ok());
  Spawn({1.0});
  ASSERT_TRUE(w_->Spawn("p", PositionBatch({5.0})).ok());
  ASSERT_TRUE(w_->SetFaultPlan("fail:publish:pv").ok());  // "p" < "pv": the second table fails
  auto r = w_->Step();
  ASSERT_EQ(r.status().code(), C(Code::ARCT_ERR_PARTIAL_TICK));
  EXPECT_EQ(r.status().detail("committed_tables"), "1");
  EXPECT_EQ(w_->Step().status().code(), C(Code::ARCT_ERR_PARTIAL_TICK));
  EXPECT_EQ(w_->ReserveIds(1).status().code(), C(Code::ARCT_ERR_PARTIAL_TICK));
  EXPECT_EQ(w_->Spawn("p", PositionBatch({5.0})).status().code(), C(Code::ARCT_ERR_PARTIAL_TICK));
  // Queries still work, and never show the half-published tick (§5.6).
  EXPECT_EQ(Ledger(*w_, "p")->num_rows(), 0);
  EXPECT_EQ(w_->info().last_committed_tick, 0);  // its record exists: the tick is committed
}

TEST_F(Lifecycle, InternalFaultPoisonsWithoutThrowing) {
  Spawn({1.0});
  ASSERT_TRUE(w_->Step().ok());
  ASSERT_TRUE(w_->SetFaultPlan("fail:internal").ok());
  EXPECT_EQ(w_->Step().status().code(), C(Code::ARCT_ERR_PANIC));
  EXPECT_EQ(w_->Step().status().code(), C(Code::ARCT_ERR_WORLD_POISONED));
  EXPECT_EQ(w_->Spawn(kT, PositionVelocityBatch({1}, {0}, {1}, {0})).status().code(), C(Code::ARCT_ERR_WORLD_POISONED));
}

TEST_F(Lifecycle, SplitStepEqualsStep) {  // item 49
  auto other = MemoryWorld();
  ASSERT_TRUE(other->RegisterTable(kT, PositionVelocitySchema()).ok());
  auto pid = other->AddMovement(1.0, 0);
  for (World* w : {w_.get(), other.get()})
    ASSERT_TRUE(w->Spawn(kT, PositionVelocityBatch({1, 2}, {0, 0}, {1, 1}, {0, 0})).ok());
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(w_->Step().ok());
    auto in = other->StepBegin(kT);
    ASSERT_TRUE(in.ok()) << in.status().ToString();
    auto out = (*in)->num_rows() ? *other->RunProcessor(*pid, kT, *in) : *in;
    auto done = other->StepCommit(kT, out);
    ASSERT_TRUE(done.ok()) << done.status().ToString();
    ASSERT_TRUE(done->has_value());
  }
  EXPECT_TRUE(Ledger(*w_, kT)->Equals(*Ledger(*other, kT)));
}

TEST_F(Lifecycle, PassedThroughColumnsComeBackAsTheKernelsOwnArrays) {
  // A column a processor returns unchanged arrives as a new array over the same memory (an import
  // of our export); the kernel keeps its own array, so no wrapper chain grows tick after tick.
  Spawn({1.0, 2.0});
  ASSERT_TRUE(w_->Step().ok());
  const arrow::ArrayData* first = nullptr;
  for (int i = 0; i < 3; ++i) {
    auto in = w_->StepBegin(kT);
    ASSERT_TRUE(in.ok()) << in.status().ToString();
    const int dx = (*in)->schema()->GetFieldIndex("velocity__dx");
    if (first == nullptr) first = (*in)->column(dx)->data().get();
    EXPECT_EQ((*in)->column(dx)->data().get(), first) << "tick " << i;
    arrow::ArrayVector rewrapped;
    for (const auto& c : (*in)->columns()) rewrapped.push_back(arrow::MakeArray(std::make_shared<arrow::ArrayData>(*c->data())));
    auto done = w_->StepCommit(kT, arrow::RecordBatch::Make((*in)->schema(), (*in)->num_rows(), rewrapped));
    ASSERT_TRUE(done.ok()) << done.status().ToString();
  }
}

TEST_F(Lifecycle, SplitStepStateErrors) {  // item 48, 50
  Spawn({1.0});
  EXPECT_EQ(w_->StepCommit(kT, PositionBatch({})).status().code(), C(Code::ARCT_ERR_NO_STEP_IN_FLIGHT));
  EXPECT_EQ(w_->StepAbort(kT).code(), C(Code::ARCT_ERR_NO_STEP_IN_FLIGHT));
  ASSERT_TRUE(w_->RegisterTable("p", PositionSchema()).ok());
  EXPECT_EQ(w_->StepBegin("p").status().code(), C(Code::ARCT_ERR_TABLE_NOT_ACTIVE));
  auto in = w_->StepBegin(kT);
  ASSERT_TRUE(in.ok());
  EXPECT_EQ(w_->StepBegin(kT).status().code(), C(Code::ARCT_ERR_STEP_ALREADY_IN_FLIGHT));
  EXPECT_EQ(w_->Spawn(kT, PositionVelocityBatch({1}, {0}, {1}, {0})).status().code(),
            C(Code::ARCT_ERR_MUTATION_DURING_STEP));
  EXPECT_EQ(w_->Step().status().code(), C(Code::ARCT_ERR_STEP_ALREADY_IN_FLIGHT));
  EXPECT_TRUE(w_->ReserveIds(1).ok());
  ASSERT_TRUE(w_->StepAbort(kT).ok());
  EXPECT_EQ(w_->info().tick, 0);
  ASSERT_TRUE(w_->Step().ok());
  EXPECT_EQ(Ledger(*w_, kT)->num_rows(), 1);
}

}  // namespace
}  // namespace kiln::world
