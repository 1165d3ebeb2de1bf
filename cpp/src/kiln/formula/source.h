// The formula text and how positions in it are reported (specs/formula.md A.2.1).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "kiln/core/status.h"

namespace kiln::formula {

/// A byte span [start, end) of the source text.
struct Span {
  std::uint32_t start = 0;
  std::uint32_t end = 0;
};

class Source {
 public:
  Source(std::string_view text, bool code_points);
  std::string_view text() const { return text_; }
  std::size_t size() const { return text_.size(); }
  /// A byte offset as reported: bytes, or code points when the caller asked for them.
  std::int64_t report(std::size_t byte) const;
  /// Attaches position/end details and a caret display of the line to a compile error.
  core::Status locate(core::Status st, Span span) const;

 private:
  std::string_view text_;
  bool code_points_;
  // Non-ASCII text reported in code points: code point index of every byte offset, built on
  // first use so that reporting stays O(1) (variables report their first position).
  mutable std::vector<std::uint32_t> cp_index_;
};

/// Checks UTF-8 validity; returns the byte offset of the first invalid sequence or npos.
std::size_t find_invalid_utf8(std::string_view text);

/// Decodes one UTF-8 code point at text[i] (valid text); sets len.
std::uint32_t decode_utf8(std::string_view text, std::size_t i, std::size_t* len);

/// repr-like shortest round-trip formatting of a double (Python float repr).
std::string format_double(double v);

}  // namespace kiln::formula
