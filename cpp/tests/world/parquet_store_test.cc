// ParquetStore and cold resume (specs/world.md §4, §5).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "kiln/core/error_codes.h"
#include "world/world_test_util.h"

namespace kiln::world {
namespace {

using namespace testing;
namespace fs = std::filesystem;

class ParquetWorld : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("kiln-world-" + std::to_string(::getpid()) + "-" +
                                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
  }
  void TearDown() override { fs::remove_all(root_); }
  std::unique_ptr<World> Open(OpenMode mode, int flush_every = 1) {
    WorldOptions o;
    o.world_id = "w";
    o.run_id = "r";
    o.store_root = root_.string();
    o.ns = "ns";
    o.open_mode = mode;
    o.flush_every_ticks = flush_every;
    auto w = World::Open(o);
    EXPECT_TRUE(w.ok()) << w.status().ToString();
    return w.ok() ? std::move(*w) : nullptr;
  }
  fs::path root_;
};

TEST_F(ParquetWorld, ResumeContinuesTheUninterruptedLedger) {  // items 25, 26
  auto straight = MemoryWorld();
  ASSERT_TRUE(straight->RegisterTable("pv", PositionVelocitySchema()).ok());
  ASSERT_TRUE(straight->AddMovement(0.5, 0).ok());
  ASSERT_TRUE(straight->Spawn("pv", PositionVelocityBatch({0, 1, 2}, {0, 0, 0}, {1, 2, 3}, {1, 1, 1})).ok());
  ASSERT_TRUE(straight->Run(6, nullptr, nullptr).ok());
  {
    auto w = Open(OpenMode::kCreate);
    ASSERT_TRUE(w->RegisterTable("pv", PositionVelocitySchema()).ok());
    ASSERT_TRUE(w->AddMovement(0.5, 0).ok());
    ASSERT_TRUE(w->Spawn("pv", PositionVelocityBatch({0, 1, 2}, {0, 0, 0}, {1, 2, 3}, {1, 1, 1})).ok());
    ASSERT_TRUE(w->Run(3, nullptr, nullptr).ok());
    ASSERT_TRUE(w->Close(false).ok());
  }
  auto w = Open(OpenMode::kResume);
  ASSERT_TRUE(w);
  EXPECT_EQ(w->info().tick, 3);
  EXPECT_EQ(w->info().next_entity_id, 4);
  EXPECT_EQ(w->info().registered_entities, 3);
  EXPECT_EQ(w->store_counters().files_opened, 1);
  ASSERT_TRUE(w->AddMovement(0.5, 0).ok());
  ASSERT_TRUE(w->Run(3, nullptr, nullptr).ok());
  EXPECT_TRUE(Ledger(*w, "pv")->Equals(*Ledger(*straight, "pv")));
}

TEST_F(ParquetWorld, CreateResumeAndLockErrors) {  // item 30
  auto w = Open(OpenMode::kCreate);
  ASSERT_TRUE(w->RegisterTable("pv", PositionVelocitySchema()).ok());
  ASSERT_TRUE(w->Step().ok());
  WorldOptions o;
  o.world_id = "w";
  o.run_id = "r";
  o.store_root = root_.string();
  o.ns = "ns";
  EXPECT_EQ(World::Open(o).status().code(), static_cast<int>(Code::ARCT_ERR_STORE_LOCKED));
  ASSERT_TRUE(w->Close(false).ok());
  EXPECT_EQ(World::Open(o).status().code(), static_cast<int>(Code::ARCT_ERR_WORLD_EXISTS));
  o.run_id = "other";
  o.open_mode = OpenMode::kResume;
  EXPECT_EQ(World::Open(o).status().code(), static_cast<int>(Code::ARCT_ERR_WORLD_NOT_FOUND));
}

TEST_F(ParquetWorld, FlushEveryThreeTicksWritesFourPartsOverTenTicks) {  // item 34
  auto w = Open(OpenMode::kCreate, 3);
  ASSERT_TRUE(w->RegisterTable("pv", PositionVelocitySchema()).ok());
  ASSERT_TRUE(w->Spawn("pv", PositionVelocityBatch({0}, {0}, {1}, {1})).ok());
  ASSERT_TRUE(w->Run(10, nullptr, nullptr).ok());
  EXPECT_EQ(Ledger(*w, "pv")->num_rows(), 10);  // read-your-writes includes the pending tick
  ASSERT_TRUE(w->Close(false).ok());
  int parts = 0;
  for (auto& e : fs::directory_iterator(root_ / "ns/pv")) parts += e.path().extension() == ".parquet";
  EXPECT_EQ(parts, 4);
}

TEST_F(ParquetWorld, HistoryQueryPrunesRowGroupsByStatistics) {  // item 32
  auto w = Open(OpenMode::kCreate);
  ASSERT_TRUE(w->RegisterTable("pv", PositionVelocitySchema()).ok());
  ASSERT_TRUE(w->Spawn("pv", PositionVelocityBatch({0}, {0}, {1}, {1})).ok());
  ASSERT_TRUE(w->Run(50, nullptr, nullptr).ok());
  ASSERT_TRUE(w->Close(false).ok());
  auto r = Open(OpenMode::kResume);
  auto before = r->store_counters().row_groups_read;
  ReadFilter f;
  f.ticks = std::vector<std::int32_t>{10};
  EXPECT_EQ(Ledger(*r, "pv", f)->num_rows(), 1);
  EXPECT_EQ(r->store_counters().row_groups_read - before, 1);
}

TEST_F(ParquetWorld, SchemaConflictWithStoredTable) {  // item 38
  auto w = Open(OpenMode::kCreate);
  ASSERT_TRUE(w->RegisterTable("pv", PositionVelocitySchema()).ok());
  ASSERT_TRUE(w->Spawn("pv", PositionVelocityBatch({0}, {0}, {1}, {1})).ok());
  ASSERT_TRUE(w->Step().ok());
  EXPECT_EQ(w->RegisterTable("pv", PositionSchema()).code(), static_cast<int>(Code::ARCT_ERR_TABLE_SCHEMA_CONFLICT));
  WorldOptions o;
  o.world_id = "w2";
  o.store_root = root_.string();
  o.ns = "ns";
  auto other = World::Open(o);
  ASSERT_TRUE(other.ok());
  EXPECT_EQ((*other)->RegisterTable("pv", PositionSchema()).code(), static_cast<int>(Code::ARCT_ERR_TABLE_SCHEMA_CONFLICT));
}

}  // namespace
}  // namespace kiln::world
