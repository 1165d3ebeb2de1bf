#include "kiln/core/uuid7.h"

#include <chrono>
#include <cstdint>
#include <mutex>
#include <random>

namespace kiln::core {

std::string NewUuid7() {
  static std::mutex mu;
  static std::uint64_t last_ms = 0;
  static std::uint32_t counter = 0;  // 12 bits (rand_a)
  static std::mt19937_64 rng{std::random_device{}()};

  std::uint64_t ms;
  std::uint32_t seq;
  std::uint64_t rand_b;
  {
    std::lock_guard<std::mutex> lock(mu);
    ms = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
    if (ms > last_ms) {
      last_ms = ms;
      counter = static_cast<std::uint32_t>(rng() & 0x3FF);  // random start, headroom to count up
    } else {
      // Same (or earlier: clock stepped back) millisecond: count up; on overflow borrow the
      // next millisecond so that order is still preserved.
      ms = last_ms;
      if (++counter > 0xFFF) {
        counter = 0;
        last_ms = ++ms;
      }
    }
    seq = counter;
    rand_b = rng();
  }
  std::uint8_t b[16];
  for (int i = 0; i < 6; ++i) b[i] = static_cast<std::uint8_t>(ms >> (8 * (5 - i)));
  b[6] = static_cast<std::uint8_t>(0x70 | ((seq >> 8) & 0x0F));
  b[7] = static_cast<std::uint8_t>(seq & 0xFF);
  b[8] = static_cast<std::uint8_t>(0x80 | ((rand_b >> 56) & 0x3F));
  for (int i = 9; i < 16; ++i) b[i] = static_cast<std::uint8_t>(rand_b >> (8 * (15 - i)));
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
    out.push_back(kHex[b[i] >> 4]);
    out.push_back(kHex[b[i] & 15]);
  }
  return out;
}

}  // namespace kiln::core
