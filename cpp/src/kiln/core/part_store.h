// The Parquet part store shared by every Kiln engine (specs/world.md §5.2–§5.5 is normative).
//
//   <root>/<ns>/<table>/part-<uuidv7>.parquet                   visible, immutable parts
//   <root>/<ns>/<table>/_tmp-<writer-key>-<uuidv7>.parquet.tmp  staged, invisible
//   <root>/<ns>/_kiln/log/<writer-key>/<tick:010d>.commit|.done  commit records
//   <root>/<ns>/_kiln/log/<writer-key>/_tmp-<uuidv7>.json.tmp    record being written
//   <root>/<ns>/_kiln/locks/<writer-key>.lock                    writer lock (flock)
//
// A commit stages part files under temporary names, writes a JSON record and renames it to
// `.commit` (the commit point), renames the parts to their final names (publication) and marks the
// record `.done`. Recovery rolls committed records forward and removes orphans, so readers never
// see a partial commit. Engines choose the layout of tables, the record fields and durability.
// Errors use the core 1200 block; engines map them to their own codes.
#pragma once

#include <arrow/type_fwd.h>
#include <arrow/util/compression.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kiln/core/fault_plan.h"
#include "kiln/core/json.h"
#include "kiln/core/status.h"

namespace kiln::core {

enum class Durability { kProcess, kFsync };

struct ParquetWriterSettings {
  arrow::Compression::type compression = arrow::Compression::ZSTD;
  int compression_level = 1;
  std::int64_t max_row_group_length = std::int64_t{1} << 20;
};

/// One staged part of a commit.
struct StagedPart {
  std::string table;
  std::string temp;  // file name inside the table directory
  std::string name;  // final file name
  std::int64_t rows = 0;
  std::int64_t bytes = 0;
};

/// What a commit achieved when it failed (it never throws).
struct CommitOutcome {
  Status status;             // OK on full success (a failed `.done` rename is not a failure)
  bool committed = false;    // the record reached `.commit` and was not withdrawn
  int published = 0;         // parts renamed to their final names
};

struct RecoveryStats {
  int records_rolled_forward = 0;
  int parts_published = 0;
  int orphans_removed = 0;
};

class PartStore {
 public:
  /// Creates `<root>/<ns>` (and `_kiln/`) if needed, takes the writer lock of `writer_key` and
  /// recovers that writer's log. Errors: CORE_STORE_OPEN, CORE_STORE_LOCKED, CORE_STORE_CORRUPT.
  static Result<std::unique_ptr<PartStore>> Open(const std::string& root, const std::string& ns,
                                                 const std::string& writer_key, Durability durability,
                                                 FaultPlan* faults);
  ~PartStore();
  PartStore(const PartStore&) = delete;
  PartStore& operator=(const PartStore&) = delete;

  const std::string& dir() const { return dir_; }
  const std::string& writer_key() const { return key_; }

  /// Writes `data` as a temporary part of `table` (directory created on demand).
  Result<StagedPart> Stage(const std::string& table, const arrow::Table& data,
                           const ParquetWriterSettings& settings);
  /// Deletes staged temporaries (after a failure before the commit point).
  void Discard(const std::vector<StagedPart>& parts);

  /// Runs the commit protocol for `parts`. `record` is the engine's record object; the store adds
  /// `parts` ([{table, temp, name, rows}] plus `extra_part_fields` per part, in order) itself.
  CommitOutcome Commit(std::int32_t last_tick, Json::Object record, const std::vector<StagedPart>& parts,
                       const std::vector<Json::Object>& extra_part_fields);

  /// The newest `.done` record of this writer, if any.
  Result<std::optional<Json>> LatestRecord() const;

  /// Visible part files of `table`, ascending by name (= write order of one writer).
  Result<std::vector<std::string>> ListParts(const std::string& table) const;
  std::string TableDir(const std::string& table) const { return dir_ + "/" + table; }

  std::int64_t parts_written() const { return parts_written_; }
  std::int64_t bytes_written() const { return bytes_written_; }

  /// Recovery of one writer's log (also run by Open). Requires the caller to hold that writer's lock.
  static Result<RecoveryStats> Recover(const std::string& ns_dir, const std::string& writer_key);
  /// Last tick of the newest `.done` record of a writer, or nullopt (the visibility watermark).
  static std::optional<std::int32_t> PublishedTick(const std::string& ns_dir, const std::string& writer_key);
  /// Tries to take a writer's lock without blocking; returns the fd, or -1 if held elsewhere.
  static Result<int> TryLock(const std::string& ns_dir, const std::string& writer_key);
  static void Unlock(int fd);

 private:
  PartStore() = default;
  Status FsyncDir(const std::string& path) const;
  void RetryPendingDone();

  std::string dir_;  // <root>/<ns>
  std::string key_;
  std::string log_dir_;
  Durability durability_ = Durability::kProcess;
  FaultPlan* faults_ = nullptr;
  int lock_fd_ = -1;
  std::vector<std::string> pending_done_;  // `.commit` records whose `.done` rename failed
  std::int64_t parts_written_ = 0;
  std::int64_t bytes_written_ = 0;
};

/// Converts an Arrow I/O failure on `path` into a core I/O status (keeps errno when known).
Status FromArrowIo(const arrow::Status& st, const std::string& path);

/// Writes a table to a Parquet file with Kiln's writer settings (specs/world.md §5.3).
Status WriteParquetFile(const std::string& path, const arrow::Table& data, const ParquetWriterSettings& settings,
                        bool fsync_file, std::int64_t* bytes_written);

}  // namespace kiln::core
