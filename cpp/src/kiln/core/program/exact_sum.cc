#include "kiln/core/program/exact_sum.h"

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>

namespace kiln::core {

namespace {

constexpr int kExtra = 64;  // guard limb below 2^-1074 for correctly rounded division

// Adds (or subtracts) value v << shift (bits) to a two's-complement little-endian limb array.
template <std::size_t N>
void AddShifted(std::array<std::uint64_t, N>& l, std::uint64_t v, int shift, bool negative) {
  std::size_t k = static_cast<std::size_t>(shift / 64);
  int s = shift % 64;
  std::uint64_t lo = v << s;
  std::uint64_t hi = s == 0 ? 0 : (v >> (64 - s));
  if (!negative) {
    unsigned __int128 carry = 0;
    for (std::size_t i = k; i < N; ++i) {
      unsigned __int128 t = static_cast<unsigned __int128>(l[i]) + carry + (i == k ? lo : (i == k + 1 ? hi : 0));
      l[i] = static_cast<std::uint64_t>(t);
      carry = t >> 64;
      if (carry == 0 && i > k) break;
    }
  } else {
    std::uint64_t borrow = 0;
    for (std::size_t i = k; i < N; ++i) {
      std::uint64_t sub = (i == k ? lo : (i == k + 1 ? hi : 0));
      std::uint64_t before = l[i];
      std::uint64_t r = before - sub - borrow;
      borrow = (before < sub || (before - sub) < borrow) ? 1 : 0;
      l[i] = r;
      if (borrow == 0 && i > k) break;
    }
  }
}

// Rounds the non-negative big integer m (little-endian limbs) times 2^exp2 to a double,
// nearest-even; `sticky` says that nonzero bits were already discarded below m.
template <std::size_t N>
double RoundToDouble(const std::array<std::uint64_t, N>& m, int exp2, bool sticky) {
  int top = -1;
  for (int i = static_cast<int>(N) - 1; i >= 0; --i) {
    if (m[i] != 0) {
      top = i * 64 + 63 - std::countl_zero(m[i]);
      break;
    }
  }
  if (top < 0) return 0.0;
  auto bit = [&](int b) -> std::uint64_t { return b < 0 ? 0 : (m[b / 64] >> (b % 64)) & 1u; };
  // Lowest kept bit: 53 significant bits, but never below 2^-1074 (subnormals).
  int drop = top - 52;
  int min_drop = -1074 - exp2;
  if (drop < min_drop) drop = min_drop;
  if (drop < 0) drop = 0;
  std::uint64_t mant = 0;
  for (int b = top; b >= drop; --b) mant = (mant << 1) | bit(b);
  if (drop > 0) {
    std::uint64_t half = bit(drop - 1);
    bool rest = sticky;
    for (int b = drop - 2; b >= 0 && !rest; --b) {
      if ((b % 64) == 63 && m[b / 64] == 0) {  // skip zero limbs quickly
        b -= 63;
        continue;
      }
      rest = bit(b) != 0;
    }
    if (half && (rest || (mant & 1u))) ++mant;
  }
  return std::ldexp(static_cast<double>(mant), drop + exp2);
}

}  // namespace

void ExactSum::add(double x) {
  if (!std::isfinite(x)) {
    special_ = has_special_ ? special_ + x : x;
    has_special_ = true;
    return;
  }
  if (x == 0.0) return;
  std::uint64_t bits = std::bit_cast<std::uint64_t>(x);
  bool neg = (bits >> 63) != 0;
  int e = static_cast<int>((bits >> 52) & 0x7ff);
  std::uint64_t frac = bits & ((std::uint64_t{1} << 52) - 1);
  std::uint64_t mant = e == 0 ? frac : (frac | (std::uint64_t{1} << 52));
  int shift = e == 0 ? 0 : e - 1;  // value = mant * 2^(shift - 1074)
  AddShifted(limb_, mant, shift, neg);
}

void ExactSum::add_scaled(std::uint64_t magnitude, int shift, bool negative) {
  if (magnitude != 0) AddShifted(limb_, magnitude, shift, negative);
}

void ExactSum::add(const ExactSum& other) {
  // Two's-complement limbs add with one carry chain; the width leaves room for any sum.
  unsigned __int128 carry = 0;
  for (int i = 0; i < kLimbs; ++i) {
    const unsigned __int128 t = static_cast<unsigned __int128>(limb_[i]) + other.limb_[i] + carry;
    limb_[i] = static_cast<std::uint64_t>(t);
    carry = t >> 64;
  }
  if (other.has_special_) {
    special_ = has_special_ ? special_ + other.special_ : other.special_;
    has_special_ = true;
  }
}

double ExactSum::value() const {
  if (has_special_) return special_;
  std::array<std::uint64_t, kLimbs> m = limb_;
  bool neg = (m[kLimbs - 1] >> 63) != 0;
  if (neg) {  // two's complement negate
    for (auto& w : m) w = ~w;
    for (auto& w : m)
      if (++w != 0) break;
  }
  double r = RoundToDouble(m, -1074, false);
  return neg ? -r : r;
}

double ExactSum::divided_by(std::uint64_t n) const {
  if (has_special_) return special_ / static_cast<double>(n);
  std::array<std::uint64_t, kLimbs + 1> m{};
  bool neg = (limb_[kLimbs - 1] >> 63) != 0;
  std::array<std::uint64_t, kLimbs> a = limb_;
  if (neg) {
    for (auto& w : a) w = ~w;
    for (auto& w : a)
      if (++w != 0) break;
  }
  // m = |sum| * 2^64 (one guard limb of fraction bits), then long division by n.
  for (int i = 0; i < kLimbs; ++i) m[i + 1] = a[i];
  unsigned __int128 rem = 0;
  for (int i = kLimbs; i >= 0; --i) {
    unsigned __int128 cur = (rem << 64) | m[i];
    m[i] = static_cast<std::uint64_t>(cur / n);
    rem = cur % n;
  }
  double r = RoundToDouble(m, -1074 - kExtra, rem != 0);
  return neg ? -r : r;
}

double exact_sum(const double* x, std::size_t n) {
  ExactSum s;
  for (std::size_t i = 0; i < n; ++i) s.add(x[i]);
  return s.value();
}

}  // namespace kiln::core
