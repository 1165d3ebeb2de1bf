#include "kiln/core/json.h"

#include <charconv>
#include <cmath>
#include <cstdio>

namespace kiln::core {

const Json* Json::find(std::string_view key) const {
  if (!is_object()) return nullptr;
  for (const auto& [k, v] : as_object())
    if (k == key) return &v;
  return nullptr;
}

namespace {

void WriteString(std::string& out, std::string_view s) {
  out.push_back('"');
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  out.push_back('"');
}

}  // namespace

class JsonWriter {
 public:
  static void Write(std::string& out, const Json& j) {
    std::visit(
        [&](const auto& x) {
          using T = std::decay_t<decltype(x)>;
          if constexpr (std::is_same_v<T, std::nullptr_t>) {
            out += "null";
          } else if constexpr (std::is_same_v<T, bool>) {
            out += x ? "true" : "false";
          } else if constexpr (std::is_same_v<T, std::int64_t>) {
            out += std::to_string(x);
          } else if constexpr (std::is_same_v<T, double>) {
            if (!std::isfinite(x)) {
              out += "null";  // strict JSON has no NaN/Infinity
            } else {
              char buf[32];
              auto res = std::to_chars(buf, buf + sizeof buf, x);
              out.append(buf, res.ptr);
            }
          } else if constexpr (std::is_same_v<T, std::string>) {
            WriteString(out, x);
          } else if constexpr (std::is_same_v<T, std::shared_ptr<Json::Array>>) {
            out.push_back('[');
            for (std::size_t i = 0; i < x->size(); ++i) {
              if (i) out.push_back(',');
              Write(out, (*x)[i]);
            }
            out.push_back(']');
          } else {
            out.push_back('{');
            for (std::size_t i = 0; i < x->size(); ++i) {
              if (i) out.push_back(',');
              WriteString(out, (*x)[i].first);
              out.push_back(':');
              Write(out, (*x)[i].second);
            }
            out.push_back('}');
          }
        },
        j.v_);
  }
};

std::string Json::Dump() const {
  std::string out;
  JsonWriter::Write(out, *this);
  return out;
}

namespace {

class Parser {
 public:
  Parser(std::string_view s, std::int32_t code) : s_(s), code_(code) {}

  Result<Json> Document() {
    auto v = Value(0);
    if (!v.ok()) return v;
    SkipWs();
    if (pos_ != s_.size()) return Fail("trailing characters");
    return v;
  }

 private:
  Status Fail(const char* what) const {
    return Status(code_, std::string("invalid JSON at byte ") + std::to_string(pos_) + ": " + what);
  }
  void SkipWs() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\n' || s_[pos_] == '\r' || s_[pos_] == '\t')) ++pos_;
  }
  bool Consume(char c) {
    SkipWs();
    if (pos_ < s_.size() && s_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  bool Literal(std::string_view lit) {
    if (s_.substr(pos_, lit.size()) == lit) {
      pos_ += lit.size();
      return true;
    }
    return false;
  }

  Result<Json> Value(int depth) {
    if (depth > 64) return Fail("nesting too deep");
    SkipWs();
    if (pos_ >= s_.size()) return Fail("unexpected end");
    char c = s_[pos_];
    if (c == '{') return ObjectValue(depth);
    if (c == '[') return ArrayValue(depth);
    if (c == '"') {
      auto str = String();
      if (!str.ok()) return str.status();
      return Json(std::move(*str));
    }
    if (Literal("null")) return Json(nullptr);
    if (Literal("true")) return Json(true);
    if (Literal("false")) return Json(false);
    return Number();
  }

  Result<Json> ObjectValue(int depth) {
    ++pos_;
    Json::Object obj;
    if (Consume('}')) return Json(std::move(obj));
    while (true) {
      SkipWs();
      if (pos_ >= s_.size() || s_[pos_] != '"') return Fail("expected a string key");
      auto key = String();
      if (!key.ok()) return key.status();
      if (!Consume(':')) return Fail("expected ':'");
      auto v = Value(depth + 1);
      if (!v.ok()) return v;
      obj.emplace_back(std::move(*key), std::move(*v));
      if (Consume(',')) continue;
      if (Consume('}')) return Json(std::move(obj));
      return Fail("expected ',' or '}'");
    }
  }

  Result<Json> ArrayValue(int depth) {
    ++pos_;
    Json::Array arr;
    if (Consume(']')) return Json(std::move(arr));
    while (true) {
      auto v = Value(depth + 1);
      if (!v.ok()) return v;
      arr.push_back(std::move(*v));
      if (Consume(',')) continue;
      if (Consume(']')) return Json(std::move(arr));
      return Fail("expected ',' or ']'");
    }
  }

  Result<std::string> String() {
    ++pos_;  // opening quote
    std::string out;
    while (pos_ < s_.size()) {
      char c = s_[pos_++];
      if (c == '"') return out;
      if (c != '\\') {
        out.push_back(c);
        continue;
      }
      if (pos_ >= s_.size()) break;
      char e = s_[pos_++];
      switch (e) {
        case '"': out.push_back('"'); break;
        case '\\': out.push_back('\\'); break;
        case '/': out.push_back('/'); break;
        case 'b': out.push_back('\b'); break;
        case 'f': out.push_back('\f'); break;
        case 'n': out.push_back('\n'); break;
        case 'r': out.push_back('\r'); break;
        case 't': out.push_back('\t'); break;
        case 'u': {
          if (pos_ + 4 > s_.size()) return Fail("short \\u escape");
          unsigned cp = 0;
          auto res = std::from_chars(s_.data() + pos_, s_.data() + pos_ + 4, cp, 16);
          if (res.ptr != s_.data() + pos_ + 4) return Fail("bad \\u escape");
          pos_ += 4;
          if (cp >= 0xD800 && cp <= 0xDFFF) return Fail("surrogate escapes are not supported");
          if (cp < 0x80) {
            out.push_back(static_cast<char>(cp));
          } else if (cp < 0x800) {
            out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
            out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
          } else {
            out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
            out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
            out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
          }
          break;
        }
        default: return Fail("bad escape");
      }
    }
    return Fail("unterminated string");
  }

  Result<Json> Number() {
    std::size_t start = pos_;
    bool is_float = false;
    if (pos_ < s_.size() && s_[pos_] == '-') ++pos_;
    while (pos_ < s_.size()) {
      char c = s_[pos_];
      if (c >= '0' && c <= '9') {
        ++pos_;
      } else if (c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-') {
        is_float = true;
        ++pos_;
      } else {
        break;
      }
    }
    if (pos_ == start) return Fail("unexpected character");
    const char* b = s_.data() + start;
    const char* e = s_.data() + pos_;
    if (!is_float) {
      std::int64_t v = 0;
      auto res = std::from_chars(b, e, v);
      if (res.ptr == e && res.ec == std::errc()) return Json(v);
    }
    double d = 0;
    auto res = std::from_chars(b, e, d);
    if (res.ptr != e || res.ec != std::errc()) return Fail("bad number");
    return Json(d);
  }

  std::string_view s_;
  std::int32_t code_;
  std::size_t pos_ = 0;
};

}  // namespace

Result<Json> Json::Parse(std::string_view text, std::int32_t error_code) {
  return Parser(text, error_code).Document();
}

}  // namespace kiln::core
