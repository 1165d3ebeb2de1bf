#include "kiln/formula/source.h"

#include <charconv>
#include <cmath>
#include <cstdio>

namespace kiln::formula {

Source::Source(std::string_view text, bool code_points) : text_(text), code_points_(code_points) {
  if (code_points_) {
    bool ascii = true;
    for (char c : text_) ascii = ascii && (static_cast<unsigned char>(c) < 0x80);
    if (ascii) code_points_ = false;  // bytes are code points
  }
}

std::int64_t Source::report(std::size_t byte) const {
  if (!code_points_) return static_cast<std::int64_t>(byte);
  if (cp_index_.empty()) {
    cp_index_.resize(text_.size() + 1);
    std::uint32_t n = 0;
    for (std::size_t i = 0; i < text_.size(); ++i) {
      cp_index_[i] = n;
      if ((static_cast<unsigned char>(text_[i]) & 0xC0) != 0x80) ++n;
    }
    cp_index_[text_.size()] = n;
  }
  return cp_index_[byte < text_.size() ? byte : text_.size()];
}

core::Status Source::locate(core::Status st, Span span) const {
  if (st.ok()) return st;
  st.with_detail("position", report(span.start));
  st.with_detail("end", report(span.end < span.start ? span.start : span.end));
  // Caret display of the line holding the position (why: messages must show where).
  std::size_t b = span.start > text_.size() ? text_.size() : span.start;
  std::size_t ls = text_.rfind('\n', b == 0 ? std::string_view::npos : b - 1);
  ls = (ls == std::string_view::npos || b == 0) ? 0 : ls + 1;
  if (b > 0 && b <= text_.size() && text_[b - 1] == '\n') ls = b;
  std::size_t le = text_.find('\n', b);
  if (le == std::string_view::npos) le = text_.size();
  std::string_view line = text_.substr(ls, le - ls);
  if (line.size() > 200) return st;  // a caret under a very long line helps nobody
  std::size_t col = 0;
  for (std::size_t i = ls; i < b; ++i)
    if ((static_cast<unsigned char>(text_[i]) & 0xC0) != 0x80) ++col;
  std::size_t width = 0;
  for (std::size_t i = b; i < std::min<std::size_t>(span.end, le); ++i)
    if ((static_cast<unsigned char>(text_[i]) & 0xC0) != 0x80) ++width;
  if (width == 0) width = 1;
  std::string caret = "\n    " + std::string(line) + "\n    " + std::string(col, ' ') + std::string(width, '^');
  st.append_message(caret);
  return st;
}

std::size_t find_invalid_utf8(std::string_view t) {
  std::size_t i = 0;
  while (i < t.size()) {
    unsigned char c = static_cast<unsigned char>(t[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t n;
    std::uint32_t cp;
    if ((c & 0xE0) == 0xC0) {
      n = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 4;
      cp = c & 0x07;
    } else {
      return i;
    }
    if (i + n > t.size()) return i;
    for (std::size_t k = 1; k < n; ++k) {
      unsigned char d = static_cast<unsigned char>(t[i + k]);
      if ((d & 0xC0) != 0x80) return i;
      cp = (cp << 6) | (d & 0x3F);
    }
    // Overlong forms, surrogates and values beyond U+10FFFF are invalid.
    if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF))
      return i;
    i += n;
  }
  return std::string_view::npos;
}

std::uint32_t decode_utf8(std::string_view t, std::size_t i, std::size_t* len) {
  unsigned char c = static_cast<unsigned char>(t[i]);
  if (c < 0x80) {
    *len = 1;
    return c;
  }
  std::size_t n = (c & 0xE0) == 0xC0 ? 2 : ((c & 0xF0) == 0xE0 ? 3 : 4);
  std::uint32_t cp = c & (n == 2 ? 0x1F : (n == 3 ? 0x0F : 0x07));
  for (std::size_t k = 1; k < n && i + k < t.size(); ++k) cp = (cp << 6) | (static_cast<unsigned char>(t[i + k]) & 0x3F);
  *len = n;
  return cp;
}

std::string format_double(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  std::string s(buf, r.ptr);
  // Python repr spells integral values with ".0" and uses e+XX exponents.
  if (s.find_first_of(".en") == std::string::npos) s += ".0";
  return s;
}

}  // namespace kiln::formula
