#include "kiln/formula/lexer.h"

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>

#include "kiln/core/error_codes.h"

namespace kiln::formula {

namespace errors = kiln::core::errors;
using core::Status;

namespace {
bool IsIdentStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool IsIdent(char c) { return IsIdentStart(c) || (c >= '0' && c <= '9'); }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
std::uint32_t U32(std::size_t v) { return static_cast<std::uint32_t>(v); }
}  // namespace

std::string describe(const Token& tok, std::string_view text) {
  std::string_view s = text.substr(tok.span.start, tok.span.end - tok.span.start);
  switch (tok.kind) {
    case Tok::End: return "the end of the formula";
    case Tok::Number: return "number " + std::string(s);
    case Tok::Name: return "name " + std::string(s);
    case Tok::Placeholder: return "placeholder " + std::string(s);
    case Tok::LParen: return "'('";
    case Tok::RParen: return "')'";
    case Tok::Comma: return "','";
    default: return "operator " + std::string(s);
  }
}

Status Lexer::bad_char(std::size_t i) {
  std::size_t len = 1;
  std::uint32_t cp = decode_utf8(t_, i, &len);
  std::string hint;
  switch (cp) {
    case 0x2212: hint = "; use the ASCII minus -"; break;
    case 0x00D7: hint = "; use * for multiplication"; break;
    case 0x00F7: hint = "; use / for division"; break;
    case 0x2264: hint = "; use <="; break;
    case 0x2265: hint = "; use >="; break;
    case 0x2260: hint = "; use !="; break;
    case 0x00A0: hint = "; a no-break space: use an ordinary space"; break;
    case '\'': case '"': hint = "; strings are not supported"; break;
    case '[': case ']': hint = "; list variables are passed by name, as in max(v)"; break;
    case '}': hint = "; placeholders are written {name}"; break;
    default: break;
  }
  char code[16];
  std::snprintf(code, sizeof code, "%04X", cp);
  std::string ch = cp < 0x20 || cp == 0x7f ? std::string("\\x") + code : std::string(t_.substr(i, len));
  return src_.locate(errors::formula_unexpected_character(ch, code, src_.report(i), hint),
                     Span{U32(i), U32(i + len)});
}

Status Lexer::next(Token* tok) {
  // Whitespace and comments between tokens, leading ones included.
  for (;;) {
    if (i_ >= t_.size()) break;
    char c = t_[i_];
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
      ++i_;
    } else if (c == '#') {
      while (i_ < t_.size() && t_[i_] != '\n') ++i_;
    } else {
      break;
    }
  }
  tok->span = Span{U32(i_), U32(i_)};
  tok->name = {};
  if (i_ >= t_.size()) {
    tok->kind = Tok::End;
    return Status::OK();
  }
  const std::size_t s = i_;
  const char c = t_[i_];
  const char d = i_ + 1 < t_.size() ? t_[i_ + 1] : '\0';
  auto op = [&](Tok k, std::size_t n) {
    tok->kind = k;
    i_ += n;
    tok->span = Span{U32(s), U32(i_)};
    return Status::OK();
  };
  auto unsupported = [&](std::size_t n, const char* hint) {
    return src_.locate(errors::formula_unsupported_operator(t_.substr(s, n), src_.report(s), hint),
                       Span{U32(s), U32(s + n)});
  };
  if (IsDigit(c) || (c == '.' && IsDigit(d))) return number(tok);
  if (IsIdentStart(c)) {
    while (i_ < t_.size() && IsIdent(t_[i_])) ++i_;
    if (i_ - s > limits_.max_name_bytes)
      return src_.locate(errors::formula_name_too_long("name length", limits_.max_name_bytes, src_.report(s)),
                         Span{U32(s), U32(i_)});
    tok->kind = Tok::Name;
    tok->name = t_.substr(s, i_ - s);
    tok->span = Span{U32(s), U32(i_)};
    return Status::OK();
  }
  switch (c) {
    case '{': return placeholder(tok);
    case '(': return op(Tok::LParen, 1);
    case ')': return op(Tok::RParen, 1);
    case ',': return op(Tok::Comma, 1);
    case '+': return op(Tok::Plus, 1);
    case '-': return op(Tok::Minus, 1);
    case '*': return d == '*' ? op(Tok::Pow, 2) : op(Tok::Star, 1);
    case '/': return d == '/' ? op(Tok::SlashSlash, 2) : op(Tok::Slash, 1);
    case '%': return op(Tok::Percent, 1);
    case '^': return op(Tok::Pow, 1);
    case '<':
      if (d == '=') return op(Tok::Le, 2);
      if (d == '>') return unsupported(2, "; write !=");
      if (d == '<') return unsupported(2, "; bitwise operators do not exist on doubles");
      return op(Tok::Lt, 1);
    case '>':
      if (d == '=') return op(Tok::Ge, 2);
      if (d == '>') return unsupported(2, "; bitwise operators do not exist on doubles");
      return op(Tok::Gt, 1);
    case '=':
      if (d == '=') return op(Tok::EqEq, 2);
      return unsupported(1, "; write == to compare");
    case '!':
      if (d == '=') return op(Tok::Ne, 2);
      return unsupported(1, "; write not");
    case '&':
      if (d == '&') return unsupported(2, "; write and");
      return unsupported(1, "; bitwise operators do not exist on doubles");
    case '|':
      if (d == '|') return unsupported(2, "; write or");
      return unsupported(1, "; bitwise operators do not exist on doubles");
    case '~': return unsupported(1, "; bitwise operators do not exist on doubles");
    case '@': return unsupported(1, "; matrix multiplication does not exist on doubles");
    case '?': return unsupported(1, "; write if(c, a, b)");
    case ':': return unsupported(1, "; write if(c, a, b)");
    default: return bad_char(s);
  }
}

Status Lexer::number(Token* tok) {
  const std::size_t s = i_;
  bool ok = true;
  while (i_ < t_.size() && IsDigit(t_[i_])) ++i_;
  if (i_ < t_.size() && t_[i_] == '.') {
    ++i_;
    while (i_ < t_.size() && IsDigit(t_[i_])) ++i_;
  }
  if (i_ < t_.size() && (t_[i_] == 'e' || t_[i_] == 'E')) {
    std::size_t save = i_;
    ++i_;
    if (i_ < t_.size() && (t_[i_] == '+' || t_[i_] == '-')) ++i_;
    if (i_ < t_.size() && IsDigit(t_[i_])) {
      while (i_ < t_.size() && IsDigit(t_[i_])) ++i_;
    } else {
      ok = false;
      i_ = save;
    }
  }
  const std::size_t lit_end = i_;
  // A literal running straight into a letter, digit, '_' or '.' is one malformed token.
  if (!ok || (i_ < t_.size() && (IsIdent(t_[i_]) || t_[i_] == '.'))) {
    std::size_t e = i_;
    while (e < t_.size() && (IsIdent(t_[e]) || t_[e] == '.')) ++e;
    std::string_view bad = t_.substr(s, e - s);
    std::string hint;
    std::string_view lit = t_.substr(s, lit_end - s);
    std::string_view rest = t_.substr(lit_end, e - lit_end);
    if (bad.size() > 1 && (bad[1] == 'x' || bad[1] == 'X' || bad[1] == 'b' || bad[1] == 'o') && bad[0] == '0') {
      hint = "; hexadecimal, binary and octal literals are not supported";
    } else if (bad.find('_') != std::string_view::npos && IsDigit(rest.size() > 1 ? rest[1] : 'x')) {
      hint = "; digit separators (_) are not supported";
    } else if (rest == "j" || rest == "J") {
      hint = "; imaginary numbers are not supported";
    } else if (ok && !rest.empty() && IsIdentStart(rest[0])) {
      hint = "; write " + std::string(lit) + "*" + std::string(rest);
    }
    return src_.locate(errors::formula_invalid_number(bad, src_.report(s), hint), Span{U32(s), U32(e)});
  }
  std::string_view lit = t_.substr(s, lit_end - s);
  double v = 0.0;
  auto r = std::from_chars(lit.data(), lit.data() + lit.size(), v);
  if (r.ec == std::errc::result_out_of_range) {
    // Overflow is an error (write inf if meant); underflow rounds, as strtod does.
    std::string copy(lit);
    errno = 0;
    v = std::strtod(copy.c_str(), nullptr);
    if (std::isinf(v))
      return src_.locate(errors::formula_number_out_of_range(lit, src_.report(s)), Span{U32(s), U32(lit_end)});
  } else if (r.ec != std::errc()) {
    return src_.locate(errors::formula_invalid_number(lit, src_.report(s), ""), Span{U32(s), U32(lit_end)});
  }
  tok->kind = Tok::Number;
  tok->number = v;
  tok->span = Span{U32(s), U32(lit_end)};
  return Status::OK();
}

Status Lexer::placeholder(Token* tok) {
  const std::size_t s = i_;
  std::size_t j = i_ + 1;
  auto bad = [&](const char* reason, std::size_t at) {
    return src_.locate(errors::formula_invalid_placeholder(src_.report(s), reason), Span{U32(s), U32(at)});
  };
  while (j < t_.size() && t_[j] != '}') {
    unsigned char c = static_cast<unsigned char>(t_[j]);
    if (c == '{') return bad("'{' inside a placeholder", j + 1);
    if (c == '\\') return bad("'\\' inside a placeholder", j + 1);
    if (c < 0x20 || c == 0x7f) return bad("a control character inside a placeholder", j + 1);
    ++j;
  }
  if (j >= t_.size()) return bad("unterminated placeholder: missing '}'", t_.size());
  std::string_view inner = t_.substr(s + 1, j - s - 1);
  if (inner.empty()) return bad("empty placeholder", j + 1);
  auto ws = [](char c) { return c == ' ' || c == '\t'; };
  if (ws(inner.front()) || ws(inner.back()) || inner.starts_with("\xC2\xA0") || inner.ends_with("\xC2\xA0"))
    return bad("leading or trailing whitespace", j + 1);
  if (inner.size() > limits_.max_name_bytes)
    return src_.locate(errors::formula_name_too_long("placeholder length", limits_.max_name_bytes, src_.report(s)),
                       Span{U32(s), U32(j + 1)});
  i_ = j + 1;
  tok->kind = Tok::Placeholder;
  tok->name = inner;
  tok->span = Span{U32(s), U32(i_)};
  return Status::OK();
}

}  // namespace kiln::formula
