// PhiloxStream: Kiln's one counter-based generator (Philox4x64-10, Salmon et al. 2011).
//
// Its raw output equals numpy.random.Philox(key=[k0, k1], counter=[c0, c1, c2, c3]).random_raw()
// word for word, so every Python reference can draw the very same uniforms (specs/README.md,
// "What is the core RNG's API?"). As in numpy, the 256-bit counter is incremented *before* each
// block is generated, and the four words of a block are returned in order. Engines fix only their
// own key/counter layout (popgen §5.2, arena §5.3, anneal §5.2).
#pragma once

#include <array>
#include <cstdint>

namespace kiln::core {

class PhiloxStream {
 public:
  using Key = std::array<std::uint64_t, 2>;
  using Counter = std::array<std::uint64_t, 4>;

  PhiloxStream(Key key, Counter counter) : key_(key), ctr_(counter) {}
  PhiloxStream(const std::uint64_t key[2], const std::uint64_t counter[4])
      : key_{key[0], key[1]}, ctr_{counter[0], counter[1], counter[2], counter[3]} {}

  /// The next raw 64-bit word, in numpy's random_raw order.
  std::uint64_t next_u64() {
    if (pos_ == 4) {
      Increment();
      block_ = Block(ctr_, key_);
      pos_ = 0;
    }
    return block_[pos_++];
  }

  /// A uniform double in [0, 1): numpy's next_double, (x >> 11) * 2^-53.
  double next_double() { return static_cast<double>(next_u64() >> 11) * (1.0 / 9007199254740992.0); }

  const Key& key() const { return key_; }
  /// The counter of the most recent block (numpy's state["state"]["counter"]).
  const Counter& counter() const { return ctr_; }

  /// One Philox4x64-10 block of `ctr` under `key` (no increment).
  static Counter Block(Counter ctr, Key key) {
    for (int round = 0; round < 10; ++round) {
      if (round > 0) {
        key[0] += kW0;
        key[1] += kW1;
      }
      const unsigned __int128 p0 = static_cast<unsigned __int128>(kM0) * ctr[0];
      const unsigned __int128 p1 = static_cast<unsigned __int128>(kM1) * ctr[2];
      const std::uint64_t hi0 = static_cast<std::uint64_t>(p0 >> 64), lo0 = static_cast<std::uint64_t>(p0);
      const std::uint64_t hi1 = static_cast<std::uint64_t>(p1 >> 64), lo1 = static_cast<std::uint64_t>(p1);
      ctr = {hi1 ^ ctr[1] ^ key[0], lo1, hi0 ^ ctr[3] ^ key[1], lo0};
    }
    return ctr;
  }

 private:
  static constexpr std::uint64_t kM0 = 0xD2E7470EE14C6C93ULL;
  static constexpr std::uint64_t kM1 = 0xCA5A826395121157ULL;
  static constexpr std::uint64_t kW0 = 0x9E3779B97F4A7C15ULL;
  static constexpr std::uint64_t kW1 = 0xBB67AE8584CAA73BULL;

  // The counter is one 256-bit little-endian integer, as numpy treats it.
  void Increment() {
    for (auto& w : ctr_)
      if (++w != 0) break;
  }

  Key key_;
  Counter ctr_;
  Counter block_{};
  int pos_ = 4;  // empty buffer: the first call increments, like numpy's fresh state
};

}  // namespace kiln::core
