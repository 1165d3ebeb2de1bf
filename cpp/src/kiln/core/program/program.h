// The shared program representation of kiln.formula and kiln.anneal (specs/anneal.md §2.1, §3.3).
//
// A program is a postfix array of 16-byte items plus a constant pool; kiln.formula compiles text
// to it and kiln.anneal rewrites it. The item layout is frozen: it is mirrored byte for byte by
// numpy (kiln.ITEM_DTYPE), so a program crosses into Python without conversion.
#pragma once

#include <cstdint>
#include <vector>

#include "kiln/core/program/opcodes_generated.h"
#include "kiln/core/status.h"

namespace kiln::core::program {

/// One program item. `token` is the pool index (LIT), variable slot (VAR) or list slot (LAGG);
/// `pos` the item's original index, which keys side tables such as formula source spans.
struct Item {
  std::uint32_t token = 0;
  std::uint16_t pos = 0;
  std::uint8_t op = 0;
  std::uint8_t flags = 0;
  std::int16_t arg0 = 0;
  std::int16_t arg1 = 0;
  float weight = 0.0f;
};
static_assert(sizeof(Item) == 16, "ProgramItem is 16 bytes (anneal §2.1)");
static_assert(alignof(Item) == 4);

inline constexpr std::uint8_t kFlagFrozen = 1, kFlagInserted = 2;
/// The shared program depth limit (anneal §3.3, formula A.2.6).
inline constexpr int kMaxDepth = 256;

enum class Domain : std::uint8_t { f64 = 0, i64 = 1, f32 = 2 };

struct Program {
  Isa isa = Isa::arith;
  Domain domain = Domain::f64;
  std::vector<Item> items;
  std::vector<double> pool;  ///< f64 constants (i64 programs store their bits)
  std::uint32_t n_vars = 0;
  std::uint32_t n_lists = 0;

  /// Well-formedness of an arith program (anneal §3.3): valid opcodes for the domain, no stack
  /// underflow, maximum depth <= 256, final depth 1, slots and pool indices in range,
  /// immediates in range. Errors are CORE_INVALID_ARGUMENT naming the item.
  Status check() const;
  /// Maximum stack depth reached (assumes a checked program).
  int max_depth() const;
};

}  // namespace kiln::core::program
