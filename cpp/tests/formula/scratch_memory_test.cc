// Column evaluation's memory bound (specs/formula.md A.6, D.20): besides the caller's output, the
// batch VM allocates at most depth x 256 doubles (2 KiB per stack entry) per thread. A counting
// global allocator measures the peak of live heap bytes during evaluate_batch; it lives in its own
// test binary because replacing operator new affects the whole program.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <string>
#include <vector>

#include "kiln/core/program/vm.h"
#include "kiln/formula/expression.h"

namespace {

std::atomic<long long> g_live{0};
std::atomic<long long> g_peak{0};
std::atomic<bool> g_counting{false};

// Each block carries its size in a 16-byte header (keeps the alignment of new's result).
constexpr std::size_t kHeader = 16;

void* CountedAlloc(std::size_t n) {
  void* p = std::malloc(n + kHeader);
  if (p == nullptr) throw std::bad_alloc();
  *static_cast<std::size_t*>(p) = n;
  if (g_counting.load(std::memory_order_relaxed)) {
    const long long live = g_live.fetch_add(static_cast<long long>(n)) + static_cast<long long>(n);
    long long peak = g_peak.load();
    while (live > peak && !g_peak.compare_exchange_weak(peak, live)) {
    }
  }
  return static_cast<char*>(p) + kHeader;
}

void CountedFree(void* q) noexcept {
  if (q == nullptr) return;
  void* p = static_cast<char*>(q) - kHeader;
  if (g_counting.load(std::memory_order_relaxed)) g_live.fetch_sub(static_cast<long long>(*static_cast<std::size_t*>(p)));
  std::free(p);
}

}  // namespace

void* operator new(std::size_t n) { return CountedAlloc(n); }
void* operator new[](std::size_t n) { return CountedAlloc(n); }
void operator delete(void* p) noexcept { CountedFree(p); }
void operator delete[](void* p) noexcept { CountedFree(p); }
void operator delete(void* p, std::size_t) noexcept { CountedFree(p); }
void operator delete[](void* p, std::size_t) noexcept { CountedFree(p); }

namespace {

using kiln::formula::BatchInput;
using kiln::formula::BatchOptions;
using kiln::formula::ColumnRef;
using kiln::formula::Expression;

// Right-nested subtraction: every level keeps one more value on the stack.
std::string Nested(int levels) {
  std::string text;
  for (int i = 0; i < levels; ++i) {
    text.push_back('x');
    text.push_back(static_cast<char>('0' + i % 4));
    text.append(" - (");
  }
  text += "x0";
  text.append(static_cast<std::size_t>(levels), ')');
  return text;
}

long long PeakDuringBatch(const Expression& f, std::size_t rows, int threads) {
  std::vector<double> col(rows, 1.5), out(rows);
  std::vector<ColumnRef> cols(f.program().n_vars, ColumnRef{col.data(), 0.0});
  BatchInput in{cols, {}, rows, nullptr};
  BatchOptions opt;
  opt.threads = threads;
  g_live = 0;
  g_peak = 0;
  g_counting = true;
  const auto st = f.evaluate_batch(in, out, opt);
  g_counting = false;
  EXPECT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(g_live.load(), 0) << "evaluate_batch leaked or kept memory";
  return g_peak.load();
}

TEST(ColumnScratch, BoundedByThreadsTimesDepthTimes2KiB) {
  constexpr long long kEntryBytes = static_cast<long long>(kiln::core::program::kChunkRows * sizeof(double));
  static_assert(kEntryBytes == 2048);
  // Thread bookkeeping (std::thread state, the vector of threads) is not scratch: allow 1 KiB.
  constexpr long long kSlack = 1024;
  for (int levels : {1, 10, 60, 200}) {
    auto f = Expression::compile(Nested(levels));
    ASSERT_TRUE(f.ok()) << f.status().message();
    const int depth = f->program().max_depth();
    for (int threads : {1, 2}) {
      const std::size_t rows = kiln::core::program::kParallelRows + 1000;  // large enough for threads
      const long long peak = PeakDuringBatch(*f, rows, threads);
      EXPECT_LE(peak, threads * depth * kEntryBytes + kSlack)
          << "levels " << levels << " depth " << depth << " threads " << threads;
      EXPECT_GE(peak, depth * kEntryBytes) << "the scratch was not counted: is the allocator active?";
    }
  }
}

}  // namespace
