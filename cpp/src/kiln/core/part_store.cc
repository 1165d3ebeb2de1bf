#include "kiln/core/part_store.h"

#include <arrow/io/file.h>
#include <arrow/table.h>
#include <fcntl.h>
#include <parquet/arrow/writer.h>
#include <parquet/properties.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "kiln/core/error_codes.h"
#include "kiln/core/uuid7.h"

namespace fs = std::filesystem;

namespace kiln::core {
namespace {

constexpr std::int32_t kIo = static_cast<std::int32_t>(errors::Code::CORE_IO_ERROR);
constexpr std::int32_t kOpen = static_cast<std::int32_t>(errors::Code::CORE_STORE_OPEN);
constexpr std::int32_t kLocked = static_cast<std::int32_t>(errors::Code::CORE_STORE_LOCKED);
constexpr std::int32_t kCorrupt = static_cast<std::int32_t>(errors::Code::CORE_STORE_CORRUPT);
constexpr std::int32_t kOom = static_cast<std::int32_t>(errors::Code::CORE_OUT_OF_MEMORY);

Status IoError(std::int32_t code, const std::string& what, const std::string& path, int err) {
  Status st(code, what + " " + path + ": " + std::strerror(err));
  st.with_detail("path", path).with_detail("errno", err);
  return st;
}

Status Injected(FaultPoint point, const std::string& path) {
  Status st(kIo, std::string("injected I/O failure at ") + FaultPointName(point) + " (" + path +
                     "): " + std::strerror(ENOSPC));
  st.with_detail("path", path).with_detail("errno", ENOSPC);
  return st;
}

bool Exists(const std::string& path) {
  struct stat sb;
  return ::stat(path.c_str(), &sb) == 0;
}

Status MakeDirs(const std::string& path, std::int32_t code) {
  std::error_code ec;
  fs::create_directories(path, ec);
  if (ec) return IoError(code, "cannot create directory", path, ec.value());
  struct stat sb;
  if (::stat(path.c_str(), &sb) != 0) return IoError(code, "cannot stat", path, errno);
  if (!S_ISDIR(sb.st_mode)) return Status(code, "not a directory: " + path).with_detail("path", path);
  return Status::OK();
}

Status FsyncPath(const std::string& path, bool directory) {
  int fd = ::open(path.c_str(), directory ? (O_RDONLY | O_DIRECTORY) : O_RDONLY);
  if (fd < 0) return IoError(kIo, "cannot open for fsync", path, errno);
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return IoError(kIo, "fsync failed for", path, err);
  return Status::OK();
}

Status WriteTextFile(const std::string& path, const std::string& text, bool fsync_file) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return IoError(kIo, "cannot create", path, errno);
  std::size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      return IoError(kIo, "cannot write", path, err);
    }
    done += static_cast<std::size_t>(n);
  }
  if (fsync_file && ::fsync(fd) != 0) {
    int err = errno;
    ::close(fd);
    return IoError(kIo, "fsync failed for", path, err);
  }
  if (::close(fd) != 0) return IoError(kIo, "cannot close", path, errno);
  return Status::OK();
}

Result<std::string> ReadTextFile(const std::string& path, std::int32_t code) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return IoError(code, "cannot read", path, errno ? errno : EIO);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool StartsWith(const std::string& s, std::string_view p) { return s.size() >= p.size() && s.compare(0, p.size(), p) == 0; }
bool EndsWith(const std::string& s, std::string_view p) {
  return s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0;
}

std::vector<std::string> ListNames(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) out.push_back(it->path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

std::string TickName(std::int32_t tick, std::string_view suffix) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%010d", tick);
  return std::string(buf) + std::string(suffix);
}

}  // namespace

Status WriteParquetFile(const std::string& path, const arrow::Table& data, const ParquetWriterSettings& settings,
                        bool fsync_file, std::int64_t* bytes_written) {
  parquet::WriterProperties::Builder builder;
  builder.compression(settings.compression);
  if (settings.compression == arrow::Compression::ZSTD || settings.compression == arrow::Compression::GZIP ||
      settings.compression == arrow::Compression::BROTLI) {
    builder.compression_level(settings.compression_level);
  }
  builder.max_row_group_length(settings.max_row_group_length);
  builder.disable_write_page_index();
  builder.enable_statistics();
  // Dictionary pages pay off for strings (world_id/run_id repeat on every row) but only cost time
  // for numeric columns, whose values rarely repeat.
  builder.disable_dictionary();
  for (const auto& field : data.schema()->fields()) {
    auto id = field->type()->id();
    if (id == arrow::Type::STRING || id == arrow::Type::BINARY || id == arrow::Type::LARGE_STRING ||
        id == arrow::Type::LARGE_BINARY) {
      builder.enable_dictionary(field->name());
    }
  }
  auto props = builder.build();
  // Non-compliant nested types keep list child names as given, so schemas round-trip exactly.
  auto arrow_props =
      parquet::ArrowWriterProperties::Builder().store_schema()->disable_compliant_nested_types()->build();
  auto out_res = arrow::io::FileOutputStream::Open(path);
  if (!out_res.ok()) return FromArrowIo(out_res.status(), path);
  auto out = *out_res;
  arrow::Status st = parquet::arrow::WriteTable(data, arrow::default_memory_pool(), out,
                                                settings.max_row_group_length, props, arrow_props);
  arrow::Status close_st = out->Close();
  if (!st.ok()) return FromArrowIo(st, path);
  if (!close_st.ok()) return FromArrowIo(close_st, path);
  if (fsync_file) KILN_RETURN_NOT_OK(FsyncPath(path, false));
  if (bytes_written) {
    struct stat sb;
    *bytes_written = ::stat(path.c_str(), &sb) == 0 ? static_cast<std::int64_t>(sb.st_size) : 0;
  }
  return Status::OK();
}

Status FromArrowIo(const arrow::Status& st, const std::string& path) {
  Status out(st.IsOutOfMemory() ? kOom : kIo, "cannot write " + path + ": " + st.message());
  out.with_detail("path", path);
  if (auto detail = st.detail()) {
    // Arrow's IOError detail carries errno; surface it for callers that map to OSError.
    std::string text = detail->ToString();
    if (auto pos = text.find("errno "); pos != std::string::npos) out.with_detail("errno", text.substr(pos + 6));
  }
  return out;
}

Result<int> PartStore::TryLock(const std::string& ns_dir, const std::string& writer_key) {
  std::string dir = ns_dir + "/_kiln/locks";
  KILN_RETURN_NOT_OK(MakeDirs(dir, kOpen));
  std::string path = dir + "/" + writer_key + ".lock";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return IoError(kOpen, "cannot open lock file", path, errno);
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    ::close(fd);
    if (err == EWOULDBLOCK) return -1;
    return IoError(kOpen, "cannot lock", path, err);
  }
  return fd;
}

void PartStore::Unlock(int fd) {
  if (fd >= 0) ::close(fd);  // closing releases the flock
}

Result<std::unique_ptr<PartStore>> PartStore::Open(const std::string& root, const std::string& ns,
                                                   const std::string& writer_key, Durability durability,
                                                   FaultPlan* faults) {
  std::unique_ptr<PartStore> store(new PartStore());
  store->dir_ = root + "/" + ns;
  store->key_ = writer_key;
  store->log_dir_ = store->dir_ + "/_kiln/log/" + writer_key;
  store->durability_ = durability;
  store->faults_ = faults;
  KILN_RETURN_NOT_OK(MakeDirs(root, kOpen));
  KILN_RETURN_NOT_OK(MakeDirs(store->dir_, kOpen));
  if (::access(store->dir_.c_str(), W_OK) != 0)
    return IoError(kOpen, "store directory is not writable:", store->dir_, errno);
  KILN_ASSIGN_OR_RETURN(int fd, TryLock(store->dir_, writer_key));
  if (fd < 0) {
    return Status(kLocked, "another writer holds the lock " + store->dir_ + "/_kiln/locks/" + writer_key + ".lock")
        .with_detail("path", store->dir_);
  }
  store->lock_fd_ = fd;
  KILN_RETURN_NOT_OK(MakeDirs(store->log_dir_, kOpen));
  auto rec = Recover(store->dir_, writer_key);
  if (!rec.ok()) return rec.status();
  return store;
}

PartStore::~PartStore() { Unlock(lock_fd_); }

Status PartStore::FsyncDir(const std::string& path) const {
  if (durability_ != Durability::kFsync) return Status::OK();
  return FsyncPath(path, true);
}

Result<StagedPart> PartStore::Stage(const std::string& table, const arrow::Table& data,
                                    const ParquetWriterSettings& settings) {
  std::string table_dir = TableDir(table);
  KILN_RETURN_NOT_OK(MakeDirs(table_dir, kIo));
  StagedPart part;
  part.table = table;
  part.temp = "_tmp-" + key_ + "-" + NewUuid7() + ".parquet.tmp";
  part.name = "part-" + NewUuid7() + ".parquet";
  part.rows = data.num_rows();
  std::string path = table_dir + "/" + part.temp;
  if (faults_ && faults_->ShouldFail(FaultPoint::kStage, table)) return Injected(FaultPoint::kStage, path);
  Status st = WriteParquetFile(path, data, settings, durability_ == Durability::kFsync, &part.bytes);
  if (!st.ok()) {
    ::unlink(path.c_str());
    return st;
  }
  if (faults_) faults_->AfterSuccess(FaultPoint::kStage, table);
  return part;
}

void PartStore::Discard(const std::vector<StagedPart>& parts) {
  for (const auto& p : parts) ::unlink((TableDir(p.table) + "/" + p.temp).c_str());
}

void PartStore::RetryPendingDone() {
  std::vector<std::string> still;
  for (const auto& commit_name : pending_done_) {
    std::string from = log_dir_ + "/" + commit_name;
    std::string to = log_dir_ + "/" + commit_name.substr(0, commit_name.size() - 7) + ".done";
    if (::rename(from.c_str(), to.c_str()) != 0 && Exists(from)) still.push_back(commit_name);
  }
  pending_done_ = std::move(still);
}

CommitOutcome PartStore::Commit(std::int32_t last_tick, Json::Object record, const std::vector<StagedPart>& parts,
                                const std::vector<Json::Object>& extra_part_fields) {
  CommitOutcome out;
  RetryPendingDone();
  Json::Array part_list;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    Json::Object p{{"table", parts[i].table}, {"temp", parts[i].temp}, {"name", parts[i].name}, {"rows", parts[i].rows}};
    if (i < extra_part_fields.size())
      for (const auto& kv : extra_part_fields[i]) p.push_back(kv);
    part_list.emplace_back(std::move(p));
  }
  record.emplace_back("parts", Json(std::move(part_list)));
  std::string text = Json(std::move(record)).Dump();

  // 2. Record under a temporary name.
  std::string temp_record = log_dir_ + "/_tmp-" + NewUuid7() + ".json.tmp";
  std::string commit_record = log_dir_ + "/" + TickName(last_tick, ".commit");
  auto fail_before_commit = [&](Status st) {
    ::unlink(temp_record.c_str());
    Discard(parts);
    out.status = std::move(st);
    return out;
  };
  Status st = MakeDirs(log_dir_, kIo);
  if (!st.ok()) return fail_before_commit(st);
  st = WriteTextFile(temp_record, text, durability_ == Durability::kFsync);
  if (!st.ok()) return fail_before_commit(st);

  // 3. Commit point.
  if (faults_ && faults_->ShouldFail(FaultPoint::kRecord)) return fail_before_commit(Injected(FaultPoint::kRecord, commit_record));
  if (::rename(temp_record.c_str(), commit_record.c_str()) != 0)
    return fail_before_commit(IoError(kIo, "cannot rename commit record to", commit_record, errno));
  out.committed = true;
  if (faults_) faults_->AfterSuccess(FaultPoint::kRecord);
  if (Status s = FsyncDir(log_dir_); !s.ok()) {
    // Durability of the commit point is unknown: report it, but the record is in place and
    // recovery will roll the commit forward, so publication goes on.
    out.status = s;
  }

  // 4. Publish, in table order.
  for (const auto& p : parts) {
    std::string from = TableDir(p.table) + "/" + p.temp;
    std::string to = TableDir(p.table) + "/" + p.name;
    int rc = -1;
    int err = 0;
    if (faults_ && faults_->ShouldFail(FaultPoint::kPublish, p.table)) {
      err = ENOSPC;
    } else {
      rc = ::rename(from.c_str(), to.c_str());
      if (rc != 0) rc = ::rename(from.c_str(), to.c_str());  // one retry
      err = errno;
    }
    if (rc != 0) {
      Status fail = err == ENOSPC ? Injected(FaultPoint::kPublish, to) : IoError(kIo, "cannot publish part", to, err);
      if (out.published == 0) {
        // Nothing is visible yet: withdraw the commit so that the tick is simply not there.
        if (::unlink(commit_record.c_str()) == 0) {
          Discard(parts);
          out.committed = false;
        }
      }
      out.status = fail;
      return out;
    }
    ++out.published;
    ++parts_written_;
    bytes_written_ += p.bytes;
    if (faults_) faults_->AfterSuccess(FaultPoint::kPublish, p.table);
  }
  if (durability_ == Durability::kFsync) {
    std::vector<std::string> dirs;
    for (const auto& p : parts) dirs.push_back(TableDir(p.table));
    std::sort(dirs.begin(), dirs.end());
    dirs.erase(std::unique(dirs.begin(), dirs.end()), dirs.end());
    for (const auto& d : dirs)
      if (Status s = FsyncDir(d); !s.ok() && out.status.ok()) out.status = s;
  }

  // 5. Mark done; a failure here is harmless (the tick is fully visible) and retried later.
  std::string done_record = log_dir_ + "/" + TickName(last_tick, ".done");
  bool done_ok = !(faults_ && faults_->ShouldFail(FaultPoint::kDone)) &&
                 ::rename(commit_record.c_str(), done_record.c_str()) == 0;
  if (!done_ok) {
    pending_done_.push_back(TickName(last_tick, ".commit"));
    return out;
  }
  if (faults_) faults_->AfterSuccess(FaultPoint::kDone);
  for (const auto& name : ListNames(log_dir_)) {
    if (EndsWith(name, ".done") && name < TickName(last_tick, ".done")) ::unlink((log_dir_ + "/" + name).c_str());
  }
  (void)FsyncDir(log_dir_);
  return out;
}

Result<std::optional<Json>> PartStore::LatestRecord() const {
  std::optional<std::string> newest;
  for (const auto& name : ListNames(log_dir_))
    if (EndsWith(name, ".done")) newest = name;
  if (!newest) return std::optional<Json>();
  std::string path = log_dir_ + "/" + *newest;
  KILN_ASSIGN_OR_RETURN(std::string text, ReadTextFile(path, kCorrupt));
  auto parsed = Json::Parse(text, kCorrupt);
  if (!parsed.ok()) return Status(kCorrupt, "unreadable commit record " + path + ": " + parsed.status().message());
  return std::optional<Json>(std::move(*parsed));
}

Result<std::vector<std::string>> PartStore::ListParts(const std::string& table) const {
  std::vector<std::string> out;
  for (auto& name : ListNames(TableDir(table)))
    if (StartsWith(name, "part-") && EndsWith(name, ".parquet")) out.push_back(std::move(name));
  return out;
}

std::optional<std::int32_t> PartStore::PublishedTick(const std::string& ns_dir, const std::string& writer_key) {
  std::optional<std::int32_t> tick;
  for (const auto& name : ListNames(ns_dir + "/_kiln/log/" + writer_key)) {
    if (EndsWith(name, ".done") && name.size() == 15) tick = static_cast<std::int32_t>(std::stol(name.substr(0, 10)));
  }
  return tick;
}

Result<RecoveryStats> PartStore::Recover(const std::string& ns_dir, const std::string& writer_key) {
  RecoveryStats stats;
  std::string log_dir = ns_dir + "/_kiln/log/" + writer_key;
  auto names = ListNames(log_dir);
  // 1. Records that never reached the commit point.
  for (const auto& name : names)
    if (StartsWith(name, "_tmp-") && EndsWith(name, ".json.tmp")) ::unlink((log_dir + "/" + name).c_str());
  // 2. Roll committed records forward, in tick order.
  for (const auto& name : names) {
    if (!EndsWith(name, ".commit")) continue;
    std::string path = log_dir + "/" + name;
    KILN_ASSIGN_OR_RETURN(std::string text, ReadTextFile(path, kCorrupt));
    auto rec = Json::Parse(text, kCorrupt);
    if (!rec.ok()) return Status(kCorrupt, "unreadable commit record " + path + ": " + rec.status().message());
    const Json* parts = rec->find("parts");
    if (!parts || !parts->is_array()) return Status(kCorrupt, "commit record without parts: " + path);
    for (const auto& p : parts->as_array()) {
      const Json* table = p.find("table");
      const Json* temp = p.find("temp");
      const Json* final_name = p.find("name");
      if (!table || !temp || !final_name || !table->is_string() || !temp->is_string() || !final_name->is_string())
        return Status(kCorrupt, "malformed part entry in " + path);
      std::string dir = ns_dir + "/" + table->as_string();
      std::string from = dir + "/" + temp->as_string();
      std::string to = dir + "/" + final_name->as_string();
      if (Exists(to)) continue;
      if (!Exists(from))
        return Status(kCorrupt, "commit record " + path + " names " + to + ", which is missing (nothing was deleted)")
            .with_detail("path", path);
      if (::rename(from.c_str(), to.c_str()) != 0) return IoError(kIo, "cannot publish part", to, errno);
      ++stats.parts_published;
    }
    std::string done = log_dir + "/" + name.substr(0, name.size() - 7) + ".done";
    if (::rename(path.c_str(), done.c_str()) != 0) return IoError(kIo, "cannot mark record done", done, errno);
    ++stats.records_rolled_forward;
  }
  // 3. Orphans: temporaries of this writer that no record names (all named ones were renamed).
  std::string prefix = "_tmp-" + writer_key + "-";
  for (const auto& entry : ListNames(ns_dir)) {
    if (entry.empty() || entry[0] == '_' || entry[0] == '.') continue;
    std::string dir = ns_dir + "/" + entry;
    for (const auto& name : ListNames(dir)) {
      if (StartsWith(name, prefix) && EndsWith(name, ".parquet.tmp") && ::unlink((dir + "/" + name).c_str()) == 0)
        ++stats.orphans_removed;
    }
  }
  // 4. Keep only the newest `.done`.
  std::vector<std::string> done;
  for (const auto& name : ListNames(log_dir))
    if (EndsWith(name, ".done")) done.push_back(name);
  for (std::size_t i = 0; i + 1 < done.size(); ++i) ::unlink((log_dir + "/" + done[i]).c_str());
  return stats;
}

}  // namespace kiln::core
