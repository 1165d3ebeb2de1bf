// The column pool keeps freed large buffers for reuse (kiln/core/buffer_cache.h).
#include "kiln/core/buffer_cache.h"

#include <arrow/buffer.h>
#include <gtest/gtest.h>

#include <cstring>

namespace kiln::core {
namespace {

constexpr std::int64_t kMiB = std::int64_t{1} << 20;

class BufferCacheTest : public ::testing::Test {
 protected:
  // Every test starts from an empty cache with the default limit (sanitizer builds start at 0).
  void SetUp() override {
    SetBufferCacheLimit(0);
    SetBufferCacheLimit(kDefaultBufferCacheBytes);
  }
  void TearDown() override { SetBufferCacheLimit(0); }
};

TEST_F(BufferCacheTest, AFreedLargeBufferIsHandedOutAgainForTheSameSizeClass) {
  arrow::MemoryPool* pool = ColumnPool();
  const BufferCacheStats before = GetBufferCacheStats();
  std::uint8_t* first = nullptr;
  ASSERT_TRUE(pool->Allocate(8 * kMiB, 64, &first).ok());
  std::memset(first, 7, 8 * kMiB);
  pool->Free(first, 8 * kMiB, 64);
  EXPECT_EQ(GetBufferCacheStats().cached_bytes, 8 * kMiB);
  std::uint8_t* again = nullptr;
  ASSERT_TRUE(pool->Allocate(8 * kMiB - 1000, 64, &again).ok());  // same 64 KiB class
  EXPECT_EQ(again, first);
  const BufferCacheStats after = GetBufferCacheStats();
  EXPECT_EQ(after.hits - before.hits, 1);
  EXPECT_EQ(after.misses - before.misses, 1);
  EXPECT_EQ(after.cached_bytes, 0);
  EXPECT_EQ(pool->bytes_allocated(), 8 * kMiB - 1000);
  pool->Free(again, 8 * kMiB - 1000, 64);
  EXPECT_EQ(pool->bytes_allocated(), 0);
}

TEST_F(BufferCacheTest, OtherSizesAlignmentsAndSmallBuffersAreNotReused) {
  arrow::MemoryPool* pool = ColumnPool();
  std::uint8_t* big = nullptr;
  ASSERT_TRUE(pool->Allocate(4 * kMiB, 64, &big).ok());
  pool->Free(big, 4 * kMiB, 64);
  std::uint8_t* other = nullptr;
  ASSERT_TRUE(pool->Allocate(6 * kMiB, 64, &other).ok());
  EXPECT_NE(other, big);
  std::uint8_t* aligned = nullptr;
  ASSERT_TRUE(pool->Allocate(4 * kMiB, 128, &aligned).ok());
  EXPECT_NE(aligned, big);
  std::uint8_t* small = nullptr;
  ASSERT_TRUE(pool->Allocate(4096, 64, &small).ok());
  pool->Free(small, 4096, 64);
  EXPECT_EQ(GetBufferCacheStats().cached_bytes, 4 * kMiB);  // only the large one is kept
  pool->Free(other, 6 * kMiB, 64);
  pool->Free(aligned, 4 * kMiB, 128);
}

TEST_F(BufferCacheTest, TheLimitBoundsTheCacheAndLoweringItReleases) {
  arrow::MemoryPool* pool = ColumnPool();
  SetBufferCacheLimit(3 * kMiB);
  std::uint8_t* a = nullptr;
  std::uint8_t* b = nullptr;
  ASSERT_TRUE(pool->Allocate(2 * kMiB, 64, &a).ok());
  ASSERT_TRUE(pool->Allocate(2 * kMiB, 64, &b).ok());
  pool->Free(a, 2 * kMiB, 64);
  pool->Free(b, 2 * kMiB, 64);  // would exceed 3 MiB: returned to the default pool
  EXPECT_EQ(GetBufferCacheStats().cached_bytes, 2 * kMiB);
  SetBufferCacheLimit(0);
  EXPECT_EQ(GetBufferCacheStats().cached_bytes, 0);
  EXPECT_EQ(GetBufferCacheStats().limit_bytes, 0);
}

TEST_F(BufferCacheTest, ReallocateKeepsTheContentsAcrossSizeClasses) {
  arrow::MemoryPool* pool = ColumnPool();
  std::uint8_t* p = nullptr;
  ASSERT_TRUE(pool->Allocate(1000, 64, &p).ok());
  for (int i = 0; i < 1000; ++i) p[i] = static_cast<std::uint8_t>(i * 7);
  ASSERT_TRUE(pool->Reallocate(1000, 3 * kMiB, 64, &p).ok());  // small -> large
  ASSERT_TRUE(pool->Reallocate(3 * kMiB, 3 * kMiB + 10, 64, &p).ok());  // same class: in place
  ASSERT_TRUE(pool->Reallocate(3 * kMiB + 10, 5 * kMiB, 64, &p).ok());  // large -> larger
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(p[i], static_cast<std::uint8_t>(i * 7)) << i;
  EXPECT_EQ(pool->bytes_allocated(), 5 * kMiB);
  pool->Free(p, 5 * kMiB, 64);
}

TEST_F(BufferCacheTest, ArrowBuffersFromThePoolRecycleTheirMemory) {
  const std::uint8_t* data = nullptr;
  {
    auto buf = arrow::AllocateBuffer(2 * kMiB, ColumnPool());
    ASSERT_TRUE(buf.ok());
    data = (*buf)->data();
  }
  auto again = arrow::AllocateBuffer(2 * kMiB, ColumnPool());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again)->data(), data);
}

}  // namespace
}  // namespace kiln::core
