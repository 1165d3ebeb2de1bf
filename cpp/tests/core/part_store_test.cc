#include "kiln/core/part_store.h"

#include <arrow/api.h>
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "kiln/core/error_codes.h"

namespace kiln::core {
namespace {

namespace fs = std::filesystem;

std::shared_ptr<arrow::Table> SmallTable() {
  arrow::Int32Builder b;
  EXPECT_TRUE(b.AppendValues({1, 2, 3}).ok());
  auto arr = b.Finish().ValueOrDie();
  return arrow::Table::Make(arrow::schema({arrow::field("v", arrow::int32(), false)}), {arr});
}

class PartStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("kiln-part-store-" + std::to_string(::getpid()) + "-" +
                                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
  }
  void TearDown() override { fs::remove_all(root_); }
  fs::path root_;
};

TEST_F(PartStoreTest, CommitPublishesPartsAndKeepsOneDoneRecord) {
  auto store = PartStore::Open(root_.string(), "ns", "k1", Durability::kProcess, nullptr);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  for (int tick = 0; tick < 3; ++tick) {
    auto part = (*store)->Stage("t", *SmallTable(), {});
    ASSERT_TRUE(part.ok());
    auto out = (*store)->Commit(tick, Json::Object{{"format", "x"}}, {*part}, {});
    ASSERT_TRUE(out.status.ok()) << out.status.ToString();
    EXPECT_EQ(out.published, 1);
  }
  EXPECT_EQ((*store)->ListParts("t")->size(), 3u);
  int done = 0;
  for (auto& e : fs::directory_iterator(root_ / "ns/_kiln/log/k1")) done += e.path().extension() == ".done";
  EXPECT_EQ(done, 1);
  EXPECT_EQ(PartStore::PublishedTick((root_ / "ns").string(), "k1"), 2);
}

TEST_F(PartStoreTest, SecondWriterIsLockedOut) {
  auto a = PartStore::Open(root_.string(), "ns", "k1", Durability::kProcess, nullptr);
  ASSERT_TRUE(a.ok());
  auto b = PartStore::Open(root_.string(), "ns", "k1", Durability::kProcess, nullptr);
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().code(), static_cast<int>(errors::Code::CORE_STORE_LOCKED));
  auto c = PartStore::Open(root_.string(), "ns", "k2", Durability::kProcess, nullptr);
  EXPECT_TRUE(c.ok());
}

TEST_F(PartStoreTest, FailedPublishOfFirstPartIsWithdrawn) {
  auto plan = FaultPlan::Parse("fail:publish", 8);
  auto store = PartStore::Open(root_.string(), "ns", "k1", Durability::kFsync, &*plan);
  ASSERT_TRUE(store.ok());
  auto part = (*store)->Stage("t", *SmallTable(), {});
  ASSERT_TRUE(part.ok());
  auto out = (*store)->Commit(0, Json::Object{}, {*part}, {});
  EXPECT_FALSE(out.status.ok());
  EXPECT_FALSE(out.committed);
  EXPECT_TRUE((*store)->ListParts("t")->empty());
  for (auto& e : fs::directory_iterator(root_ / "ns/t")) ADD_FAILURE() << "leftover " << e.path();
}

TEST_F(PartStoreTest, RecoveryRollsCommittedRecordsForwardAndRemovesOrphans) {
  {
    auto store = PartStore::Open(root_.string(), "ns", "k1", Durability::kProcess, nullptr);
    auto committed = (*store)->Stage("t", *SmallTable(), {});
    auto orphan = (*store)->Stage("t", *SmallTable(), {});
    ASSERT_TRUE(committed.ok() && orphan.ok());
    // Simulate a crash right after the commit point: a .commit record whose part is unpublished.
    Json rec(Json::Object{{"parts", Json(Json::Array{Json(Json::Object{
                                          {"table", "t"}, {"temp", committed->temp}, {"name", committed->name}})})}});
    std::ofstream(root_ / "ns/_kiln/log/k1/0000000005.commit") << rec.Dump();
  }
  auto store = PartStore::Open(root_.string(), "ns", "k1", Durability::kProcess, nullptr);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  auto parts = (*store)->ListParts("t");
  ASSERT_EQ(parts->size(), 1u);
  int temps = 0;
  for (auto& e : fs::directory_iterator(root_ / "ns/t")) temps += e.path().string().find(".tmp") != std::string::npos;
  EXPECT_EQ(temps, 0);
  EXPECT_EQ(PartStore::PublishedTick((root_ / "ns").string(), "k1"), 5);
}

TEST_F(PartStoreTest, RecordNamingMissingFilesIsCorruptAndDeletesNothing) {
  fs::create_directories(root_ / "ns/_kiln/log/k1");
  Json rec(Json::Object{{"parts", Json(Json::Array{Json(Json::Object{
                                        {"table", "t"}, {"temp", "_tmp-k1-x.parquet.tmp"}, {"name", "part-x.parquet"}})})}});
  std::ofstream(root_ / "ns/_kiln/log/k1/0000000001.commit") << rec.Dump();
  auto store = PartStore::Open(root_.string(), "ns", "k1", Durability::kProcess, nullptr);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), static_cast<int>(errors::Code::CORE_STORE_CORRUPT));
  EXPECT_TRUE(fs::exists(root_ / "ns/_kiln/log/k1/0000000001.commit"));
}

}  // namespace
}  // namespace kiln::core
