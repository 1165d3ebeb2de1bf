// MemoryStore (specs/world.md §5.8): committed batches retained zero-copy per table.
#include <arrow/record_batch.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <map>
#include <set>

#include "kiln/world/store.h"

namespace kiln::world {
namespace {

class MemoryStore final : public Store {
 public:
  MemoryStore(std::string world_id, std::string run_id, std::int64_t retain_ticks, core::FaultPlan* faults)
      : world_id_(std::move(world_id)), run_id_(std::move(run_id)), retain_(retain_ticks), faults_(faults) {}

  CommitResult CommitTick(std::int32_t tick, std::vector<TickBatch> batches, std::int32_t /*next_entity_id*/,
                          std::vector<std::string> /*live_tables*/) override {
    CommitResult out;
    using core::FaultPoint;
    auto injected = [](const char* point) {
      return Error(Code::ARCT_ERR_STORE_APPEND,
                   std::string("injected I/O failure at ") + point + ": " + std::strerror(ENOSPC));
    };
    for (const auto& tb : batches) {
      if (epoch_staged_.erase(tb.table)) continue;  // already staged at its split-step commit
      if (faults_->ShouldFail(FaultPoint::kStage, tb.table)) {
        out.kind = CommitResult::Kind::kNothingVisible;
        out.status = injected("stage");
        return out;
      }
      faults_->AfterSuccess(FaultPoint::kStage, tb.table);
    }
    if (faults_->ShouldFail(FaultPoint::kRecord)) {
      out.kind = CommitResult::Kind::kNothingVisible;
      out.status = injected("record");
      return out;
    }
    faults_->AfterSuccess(FaultPoint::kRecord);
    // "Publish" = make one table's batch visible, in table order.
    for (auto& tb : batches) {
      if (faults_->ShouldFail(FaultPoint::kPublish, tb.table)) {
        out.status = injected("publish");
        out.kind = out.committed_tables.empty() ? CommitResult::Kind::kNothingVisible : CommitResult::Kind::kPartial;
        // Kiln's own readers never see a partial tick (§5.6): take the published batches back.
        if (retain_ != 0) {
          for (const auto& name : out.committed_tables) tables_[name].pop_back();
        }
        return out;
      }
      if (retain_ != 0) tables_[tb.table].push_back({tick, tb.batch});
      out.committed_tables.push_back(tb.table);
      faults_->AfterSuccess(FaultPoint::kPublish, tb.table);
    }
    if (!faults_->ShouldFail(FaultPoint::kDone)) faults_->AfterSuccess(FaultPoint::kDone);
    if (retain_ > 0) {
      for (auto& [name, entries] : tables_) {
        while (!entries.empty() && entries.front().tick <= tick - retain_) entries.pop_front();
      }
    }
    return out;
  }

  Status StageForEpoch(std::int32_t, const TickBatch& batch) override {
    // "Staging" in memory is only the fault point: the batch becomes visible at CommitTick.
    if (faults_->ShouldFail(core::FaultPoint::kStage, batch.table))
      return Error(Code::ARCT_ERR_STORE_APPEND, std::string("injected I/O failure at stage: ") + std::strerror(ENOSPC));
    faults_->AfterSuccess(core::FaultPoint::kStage, batch.table);
    epoch_staged_.insert(batch.table);
    return Status::OK();
  }
  void DiscardStaged() override { epoch_staged_.clear(); }
  Status FlushPending() override { return Status::OK(); }
  bool HasPending() const override { return false; }
  bool flush_failed() const override { return false; }
  void DiscardPending() override {}

  Result<std::vector<std::shared_ptr<arrow::RecordBatch>>> Read(const std::string& table,
                                                                const std::shared_ptr<arrow::Schema>& /*schema*/,
                                                                const ReadFilter& filter) override {
    ++counters_.reads;
    if (faults_->ShouldFail(core::FaultPoint::kRead))
      return Error(Code::ARCT_ERR_STORE_READ, std::string("injected I/O failure at read: ") + std::strerror(ENOSPC));
    std::vector<std::shared_ptr<arrow::RecordBatch>> out;
    if ((filter.world_id && *filter.world_id != world_id_) || (filter.run_id && *filter.run_id != run_id_)) return out;
    auto it = tables_.find(table);
    if (it == tables_.end()) return out;
    for (const auto& e : it->second) {
      if (!TickMayMatch(filter, e.tick, e.tick)) continue;
      KILN_ASSIGN_OR_RETURN(auto b, FilterBatch(e.batch, filter, false, world_id_, run_id_));
      if (b->num_rows() > 0) out.push_back(std::move(b));
    }
    return out;
  }

  bool HasTable(const std::string& table) const override { return tables_.count(table) != 0; }
  Result<std::shared_ptr<arrow::Schema>> StoredSchema(const std::string&) override {
    return std::shared_ptr<arrow::Schema>();
  }
  StoreCounters counters() const override { return counters_; }
  bool is_parquet() const override { return false; }

 private:
  struct Entry {
    std::int32_t tick;
    std::shared_ptr<arrow::RecordBatch> batch;
  };
  std::string world_id_, run_id_;
  std::int64_t retain_;  // -1 all, 0 none, N last N
  core::FaultPlan* faults_;
  std::map<std::string, std::deque<Entry>> tables_;
  std::set<std::string> epoch_staged_;
  StoreCounters counters_;
};

}  // namespace

std::unique_ptr<Store> MakeMemoryStore(std::string world_id, std::string run_id, std::int64_t retain_ticks,
                                       core::FaultPlan* faults) {
  return std::make_unique<MemoryStore>(std::move(world_id), std::move(run_id), retain_ticks, faults);
}

}  // namespace kiln::world
