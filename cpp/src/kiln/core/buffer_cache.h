// The column pool: an arrow::MemoryPool that keeps freed large buffers for reuse.
//
// Why: a kernel tick allocates its new columns fresh (the history retains the old ones), and fresh
// memory costs a page fault per page on first touch. On the 2-core reference VM that is ~4 ms of
// a 1M-entity movement tick (2.5 ms without faults); the system allocator hands pages back to the
// OS soon after a world closes, so every new world, replicate or benchmark trial pays them again.
// Buffers of at least kMinCachedBytes freed into this pool are kept (up to a byte limit, default
// 256 MiB) and handed out again for a request of the same size class (64 KiB steps), so their
// pages stay resident. Smaller requests pass straight through to Arrow's default pool.
#pragma once

#include <arrow/memory_pool.h>

#include <cstdint>

namespace kiln::core {

inline constexpr std::int64_t kMinCachedBytes = std::int64_t{1} << 20;
inline constexpr std::int64_t kDefaultBufferCacheBytes = std::int64_t{256} << 20;

struct BufferCacheStats {
  std::int64_t limit_bytes = 0;   ///< most bytes kept for reuse (0: caching off)
  std::int64_t cached_bytes = 0;  ///< bytes kept now
  std::int64_t hits = 0;          ///< large requests served from the cache
  std::int64_t misses = 0;        ///< large requests that went to the default pool
};

/// The process-wide column pool (never destroyed: exported buffers may outlive static teardown).
arrow::MemoryPool* ColumnPool();

/// Changes the byte limit; a lower limit returns the excess to the default pool at once, 0 turns
/// caching off. Sanitizer builds start at 0 so that use-after-free stays visible.
void SetBufferCacheLimit(std::int64_t bytes);

BufferCacheStats GetBufferCacheStats();

}  // namespace kiln::core
