#include "kiln/core/stats/chunked_sum.h"

namespace kiln::core::stats {

void ChunkedSum::Normalize() {
  // Move each bin's bits above 2^32 into the next bin (arithmetic shifts keep the sign); the top
  // bin keeps its carry, which ExactSum absorbs.
  for (std::size_t i = 0; i + 1 < kBins; ++i) {
    const std::int64_t carry = bins_[i] >> 32;
    bins_[i] -= carry * (std::int64_t{1} << 32);
    bins_[i + 1] += carry;
  }
  count_ = 0;
}

void ChunkedSum::add_to(ExactSum& out) const {
  for (std::size_t i = 0; i < kBins; ++i) {
    const std::int64_t b = bins_[i];
    if (b == 0) continue;
    const bool negative = b < 0;
    const std::uint64_t magnitude = negative ? ~static_cast<std::uint64_t>(b) + 1 : static_cast<std::uint64_t>(b);
    out.add_scaled(magnitude, static_cast<int>(32 * i), negative);
  }
  if (has_special_) out.add(special_);
}

}  // namespace kiln::core::stats
