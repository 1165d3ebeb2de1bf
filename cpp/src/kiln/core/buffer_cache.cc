#include "kiln/core/buffer_cache.h"

#include <cstring>
#include <map>
#include <mutex>
#include <utility>

namespace kiln::core {
namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr std::int64_t kInitialLimit = 0;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr std::int64_t kInitialLimit = 0;
#else
constexpr std::int64_t kInitialLimit = kDefaultBufferCacheBytes;
#endif
#else
constexpr std::int64_t kInitialLimit = kDefaultBufferCacheBytes;
#endif

constexpr std::int64_t kSizeClass = std::int64_t{64} << 10;

/// Requests of at least kMinCachedBytes are rounded up to a 64 KiB class, both when allocated
/// and when freed (Arrow frees with the size it asked for), so a block's real size is recomputed
/// rather than remembered.
std::int64_t BlockSize(std::int64_t size) {
  return size < kMinCachedBytes ? size : (size + kSizeClass - 1) / kSizeClass * kSizeClass;
}

class RecyclingPool final : public arrow::MemoryPool {
 public:
  explicit RecyclingPool(arrow::MemoryPool* base) : base_(base), limit_(kInitialLimit) {}

  arrow::Status Allocate(std::int64_t size, std::int64_t alignment, std::uint8_t** out) override {
    if (size < kMinCachedBytes) return Counted(base_->Allocate(size, alignment, out), size);
    const std::int64_t block = BlockSize(size);
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = free_.find({block, alignment});
      if (it != free_.end()) {
        *out = it->second;
        free_.erase(it);
        cached_ -= block;
        ++hits_;
        Track(size);
        return arrow::Status::OK();
      }
      ++misses_;
    }
    return Counted(base_->Allocate(block, alignment, out), size);
  }

  arrow::Status Reallocate(std::int64_t old_size, std::int64_t new_size, std::int64_t alignment,
                           std::uint8_t** ptr) override {
    if (old_size < kMinCachedBytes && new_size < kMinCachedBytes) {
      ARROW_RETURN_NOT_OK(base_->Reallocate(old_size, new_size, alignment, ptr));
      std::lock_guard<std::mutex> lock(mu_);
      Track(new_size - old_size);
      return arrow::Status::OK();
    }
    if (BlockSize(old_size) == BlockSize(new_size)) {
      std::lock_guard<std::mutex> lock(mu_);
      Track(new_size - old_size);
      return arrow::Status::OK();
    }
    std::uint8_t* fresh = nullptr;
    ARROW_RETURN_NOT_OK(Allocate(new_size, alignment, &fresh));
    std::memcpy(fresh, *ptr, static_cast<std::size_t>(std::min(old_size, new_size)));
    Free(*ptr, old_size, alignment);
    *ptr = fresh;
    return arrow::Status::OK();
  }

  void Free(std::uint8_t* buffer, std::int64_t size, std::int64_t alignment) override {
    const std::int64_t block = BlockSize(size);
    {
      std::lock_guard<std::mutex> lock(mu_);
      Track(-size);
      if (size >= kMinCachedBytes && cached_ + block <= limit_) {
        free_.emplace(std::make_pair(block, alignment), buffer);
        cached_ += block;
        return;
      }
    }
    base_->Free(buffer, block, alignment);
  }

  void SetLimit(std::int64_t bytes) {
    const std::int64_t limit = bytes < 0 ? 0 : bytes;
    {
      std::lock_guard<std::mutex> lock(mu_);
      limit_ = limit;
    }
    Trim(limit);
  }

  BufferCacheStats Stats() const {
    std::lock_guard<std::mutex> lock(mu_);
    return BufferCacheStats{limit_, cached_, hits_, misses_};
  }

  void ReleaseUnused() override {
    Trim(0);  // the limit stays: later frees are cached again
    base_->ReleaseUnused();
  }

  std::int64_t bytes_allocated() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return allocated_;
  }
  std::int64_t max_memory() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return max_;
  }
  std::int64_t total_bytes_allocated() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return total_;
  }
  std::int64_t num_allocations() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return count_;
  }
  std::string backend_name() const override { return "kiln-column-cache(" + base_->backend_name() + ")"; }

 private:
  arrow::Status Counted(arrow::Status st, std::int64_t size) {
    if (st.ok()) {
      std::lock_guard<std::mutex> lock(mu_);
      Track(size);
    }
    return st;
  }

  /// Returns cached blocks to the default pool, largest first, until at most `keep` bytes remain.
  void Trim(std::int64_t keep) {
    std::multimap<std::pair<std::int64_t, std::int64_t>, std::uint8_t*> release;
    {
      std::lock_guard<std::mutex> lock(mu_);
      while (cached_ > keep && !free_.empty()) {
        auto last = std::prev(free_.end());
        cached_ -= last->first.first;
        release.insert(*last);
        free_.erase(last);
      }
    }
    for (const auto& [key, ptr] : release) base_->Free(ptr, key.first, key.second);
  }

  // Requires mu_.
  void Track(std::int64_t delta) {
    allocated_ += delta;
    if (delta > 0) {
      total_ += delta;
      ++count_;
    }
    if (allocated_ > max_) max_ = allocated_;
  }

  arrow::MemoryPool* base_;
  mutable std::mutex mu_;
  std::multimap<std::pair<std::int64_t, std::int64_t>, std::uint8_t*> free_;  // (block, alignment)
  std::int64_t limit_;
  std::int64_t cached_ = 0, hits_ = 0, misses_ = 0;
  std::int64_t allocated_ = 0, max_ = 0, total_ = 0, count_ = 0;
};

RecyclingPool* Pool() {
  static RecyclingPool* pool = new RecyclingPool(arrow::default_memory_pool());
  return pool;
}

}  // namespace

arrow::MemoryPool* ColumnPool() { return Pool(); }

void SetBufferCacheLimit(std::int64_t bytes) { Pool()->SetLimit(bytes); }

BufferCacheStats GetBufferCacheStats() { return Pool()->Stats(); }

}  // namespace kiln::core
