// Compile options and limits of kiln::formula (specs/formula.md A.2.6, A.3.1).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace kiln::formula {

enum class Mode : std::uint8_t { ieee, strict };

struct Limits {
  std::uint32_t max_length = 65536;  ///< UTF-8 bytes, settable up to 16 MiB
  std::uint32_t max_depth = 256;     ///< compiled program stack depth, at most 256
  std::uint32_t max_nodes = 10000;   ///< syntax-tree nodes and program items, at most 65,535
  std::uint32_t max_args = 255;      ///< arguments of one call, at most 255
  std::uint32_t max_name_bytes = 255;
};

struct CompileOptions {
  Mode mode = Mode::ieee;
  bool fold = true;
  Limits limits{};
  std::vector<std::pair<std::string, double>> constants;
  /// Report positions in code points instead of bytes (the Python API: text[e.position] is the
  /// offending character).
  bool code_point_positions = false;
};

}  // namespace kiln::formula
