#include "kiln/formula/compat_fastpath.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <vector>

namespace kiln::formula::compat {

namespace {

// Integer literals from this many digits up are left to Python: its int/str digit limit is a
// runtime setting (sys.set_int_max_str_digits), never below this threshold.
constexpr std::size_t kMaxFastIntDigits = 640;

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

enum class Tok : std::uint8_t { num, plus, minus, star, slash, dslash, dstar, caret, lpar, rpar, end };

struct Token {
  Tok kind;
  std::size_t begin, end;  // text span
  bool is_int = false;
};

enum class Lex : std::uint8_t { ok, syntax, defer };

// Python 3.11's tokenizer on the fast alphabet.
Lex Tokenize(std::string_view s, std::vector<Token>& out) {
  std::size_t i = 0;
  const std::size_t n = s.size();
  if (n > 0 && (s[0] == ' ' || s[0] == '\t')) return Lex::syntax;  // unexpected indent
  while (i < n) {
    const char c = s[i];
    if (c == ' ' || c == '\t') {
      ++i;
      continue;
    }
    const std::size_t b = i;
    if (IsDigit(c) || (c == '.' && i + 1 < n && IsDigit(s[i + 1]))) {
      bool is_int = true;
      if (c == '0') {
        while (i < n && s[i] == '0') ++i;
        const std::size_t nonzero = i;
        while (i < n && IsDigit(s[i])) ++i;
        // "0" followed by other digits is an int with leading zeros unless a '.' or exponent follows.
        if (i > nonzero && !(i < n && (s[i] == '.' || s[i] == 'e' || s[i] == 'E'))) return Lex::syntax;
      } else {
        while (i < n && IsDigit(s[i])) ++i;
      }
      if (i < n && s[i] == '.') {
        is_int = false;
        ++i;
        while (i < n && IsDigit(s[i])) ++i;
      }
      if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        is_int = false;
        std::size_t j = i + 1;
        if (j < n && (s[j] == '+' || s[j] == '-')) ++j;
        if (!(j < n && IsDigit(s[j]))) return Lex::syntax;  // invalid decimal literal
        while (j < n && IsDigit(s[j])) ++j;
        i = j;
      }
      if (i < n && (s[i] == 'e' || s[i] == 'E')) return Lex::syntax;  // a letter after a number
      if (is_int && i - b >= kMaxFastIntDigits) return Lex::defer;
      out.push_back({Tok::num, b, i, is_int});
      continue;
    }
    Tok t;
    switch (c) {
      case '+': t = Tok::plus; break;
      case '-': t = Tok::minus; break;
      case '^': t = Tok::caret; break;
      case '(': t = Tok::lpar; break;
      case ')': t = Tok::rpar; break;
      case '*':
        t = (i + 1 < n && s[i + 1] == '*') ? Tok::dstar : Tok::star;
        break;
      case '/':
        t = (i + 1 < n && s[i + 1] == '/') ? Tok::dslash : Tok::slash;
        break;
      default:
        // '.' not starting a number (attribute access or Ellipsis), a bare 'e'/'E' (a name):
        // valid Python at best, and then rejected by the whitelist; let Python say which.
        return Lex::defer;
    }
    i += (t == Tok::dstar || t == Tok::dslash) ? 2 : 1;
    out.push_back({t, b, i});
  }
  out.push_back({Tok::end, n, n});
  return Lex::ok;
}

enum class Kind : std::uint8_t { num, add, sub, mul, div, floordiv, pow, xor_, pos, neg };

struct Node {
  Kind kind;
  std::int32_t a = -1, b = -1;  // children
  std::size_t tok = 0;          // literal token
};

// Recursive descent over the Python grammar subset; depth is bounded by kMaxFastDepth (deferred
// beyond), so the native stack stays small.
class Parser {
 public:
  Parser(const std::vector<Token>& toks) : t_(toks) {}

  enum class Status : std::uint8_t { ok, syntax, defer };
  Status status = Status::ok;
  std::vector<Node> nodes;

  std::int32_t Parse() {
    const std::int32_t root = Xor(0);
    if (status == Status::ok && t_[pos_].kind != Tok::end) status = Status::syntax;
    return root;
  }

 private:
  const std::vector<Token>& t_;
  std::size_t pos_ = 0;
  int parens_ = 0;

  Tok Peek() const { return t_[pos_].kind; }
  bool Fail(Status s) {
    if (status == Status::ok) status = s;
    return false;
  }
  bool Deep(int depth) { return depth > kMaxFastDepth ? Fail(Status::defer) : true; }
  std::int32_t Add(Kind k, std::int32_t a, std::int32_t b = -1) {
    nodes.push_back({k, a, b, 0});
    return static_cast<std::int32_t>(nodes.size() - 1);
  }

  // Binary levels: left-associative chains; each application deepens the left operand, so the
  // AST depth grows with the chain length, as in Python's AST.
  std::int32_t Xor(int depth) {
    std::int32_t left = Sum(depth);
    int chain = 0;
    while (status == Status::ok && Peek() == Tok::caret) {
      ++pos_;
      if (!Deep(depth + ++chain)) return -1;
      const std::int32_t right = Sum(depth + 1);
      left = Add(Kind::xor_, left, right);
    }
    return left;
  }
  std::int32_t Sum(int depth) {
    std::int32_t left = Term(depth);
    int chain = 0;
    while (status == Status::ok && (Peek() == Tok::plus || Peek() == Tok::minus)) {
      const Kind k = Peek() == Tok::plus ? Kind::add : Kind::sub;
      ++pos_;
      if (!Deep(depth + ++chain)) return -1;
      const std::int32_t right = Term(depth + 1);
      left = Add(k, left, right);
    }
    return left;
  }
  std::int32_t Term(int depth) {
    std::int32_t left = Factor(depth);
    int chain = 0;
    while (status == Status::ok && (Peek() == Tok::star || Peek() == Tok::slash || Peek() == Tok::dslash)) {
      const Kind k = Peek() == Tok::star ? Kind::mul : (Peek() == Tok::slash ? Kind::div : Kind::floordiv);
      ++pos_;
      if (!Deep(depth + ++chain)) return -1;
      const std::int32_t right = Factor(depth + 1);
      left = Add(k, left, right);
    }
    return left;
  }
  std::int32_t Factor(int depth) {
    if (!Deep(depth)) return -1;
    if (Peek() == Tok::plus || Peek() == Tok::minus) {
      const Kind k = Peek() == Tok::plus ? Kind::pos : Kind::neg;
      ++pos_;
      const std::int32_t a = Factor(depth + 1);
      return status == Status::ok ? Add(k, a) : -1;
    }
    return Power(depth);
  }
  std::int32_t Power(int depth) {
    const std::int32_t base = Atom(depth + 1);
    if (status != Status::ok) return -1;
    // `2(3)` is a call: valid Python, rejected only when the walk reaches it, possibly after an
    // arithmetic error to its left. Let Python order the two.
    if (Peek() == Tok::lpar) return Fail(Status::defer), -1;
    if (Peek() != Tok::dstar) return base;
    ++pos_;
    const std::int32_t exp = Factor(depth + 1);
    return status == Status::ok ? Add(Kind::pow, base, exp) : -1;
  }
  std::int32_t Atom(int depth) {
    if (!Deep(depth)) return -1;
    if (Peek() == Tok::num) {
      nodes.push_back({Kind::num, -1, -1, pos_});
      ++pos_;
      return static_cast<std::int32_t>(nodes.size() - 1);
    }
    if (Peek() == Tok::lpar) {
      ++pos_;
      if (++parens_ > kMaxFastParens) return Fail(Status::defer), -1;
      // `()` is an empty tuple: valid Python, rejected by the whitelist; let Python say so.
      if (Peek() == Tok::rpar) return Fail(Status::defer), -1;
      const std::int32_t inner = Xor(depth);  // parentheses add no AST node
      if (status != Status::ok) return -1;
      if (Peek() != Tok::rpar) return Fail(Status::syntax), -1;
      ++pos_;
      --parens_;
      return inner;
    }
    return Fail(Status::syntax), -1;
  }
};

// The AST height in edges (Python's evaluator rejects nodes deeper than 1,000). Children precede
// their parents in `nodes`, so one forward pass computes every height.
int Height(const std::vector<Node>& nodes) {
  std::vector<int> h(nodes.size(), 0);
  int top = 0;
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    int c = -1;
    if (nodes[i].a >= 0) c = std::max(c, h[static_cast<std::size_t>(nodes[i].a)]);
    if (nodes[i].b >= 0) c = std::max(c, h[static_cast<std::size_t>(nodes[i].b)]);
    h[i] = c + 1;
    top = std::max(top, h[i]);
  }
  return top;
}

bool OddInteger(double x) { return std::fmod(std::fabs(x), 2.0) == 1.0; }

enum class Eval : std::uint8_t { ok, arithmetic, complex };

// CPython's float_pow (Objects/floatobject.c), case for case.
Eval FloatPow(double iv, double iw, double& out) {
  if (iw == 0.0) return out = 1.0, Eval::ok;
  if (std::isnan(iv)) return out = iv, Eval::ok;
  if (std::isnan(iw)) return out = (iv == 1.0 ? 1.0 : iw), Eval::ok;
  if (std::isinf(iw)) {
    iv = std::fabs(iv);
    if (iv == 1.0) return out = 1.0, Eval::ok;
    return out = ((iw > 0.0) == (iv > 1.0)) ? std::fabs(iw) : 0.0, Eval::ok;
  }
  if (std::isinf(iv)) {
    const bool odd = OddInteger(iw);
    if (iw > 0.0) return out = odd ? iv : std::fabs(iv), Eval::ok;
    return out = odd ? std::copysign(0.0, iv) : 0.0, Eval::ok;
  }
  if (iv == 0.0) {
    const bool odd = OddInteger(iw);
    if (iw < 0.0) return Eval::arithmetic;  // ZeroDivisionError
    return out = odd ? iv : 0.0, Eval::ok;
  }
  bool negate = false;
  if (iv < 0.0) {
    if (iw != std::floor(iw)) return Eval::complex;
    iv = -iv;
    negate = OddInteger(iw);
  }
  if (iv == 1.0) return out = negate ? -1.0 : 1.0, Eval::ok;
  errno = 0;
  double ix = std::pow(iv, iw);
  int err = errno;
  // _Py_ADJUST_ERANGE1: an infinite result is an overflow; an underflow to zero is not an error.
  if (err == 0) {
    if (std::isinf(ix)) err = ERANGE;
  } else if (err == ERANGE && ix == 0.0) {
    err = 0;
  }
  if (negate) ix = -ix;
  if (err != 0) return Eval::arithmetic;  // OverflowError or ValueError
  return out = ix, Eval::ok;
}

struct Evaluator {
  std::string_view text;
  const std::vector<Token>& toks;
  const std::vector<Node>& nodes;

  // Python's walk: a node is checked when visited (a // is rejected before its operands run),
  // operands left to right, the first error ends everything.
  Eval Run(std::int32_t i, double& out, std::int32_t& code) const {
    const Node& nd = nodes[static_cast<std::size_t>(i)];
    switch (nd.kind) {
      case Kind::num: {
        const Token& t = toks[nd.tok];
        const std::string lit(text.substr(t.begin, t.end - t.begin));
        // strtod is correctly rounded, as are float(int) and Python's float literals; an integer
        // literal out of range raises OverflowError, a float literal becomes inf.
        out = std::strtod(lit.c_str(), nullptr);
        if (t.is_int && std::isinf(out)) return code = 4602, Eval::arithmetic;
        return Eval::ok;
      }
      case Kind::floordiv:
        return code = 4601, Eval::arithmetic;  // rejected construct (reported as 4601)
      case Kind::pos: case Kind::neg: {
        double a;
        if (auto r = Run(nd.a, a, code); r != Eval::ok) return r;
        out = nd.kind == Kind::neg ? -a : a;
        return Eval::ok;
      }
      default: break;
    }
    double a, b;
    if (auto r = Run(nd.a, a, code); r != Eval::ok) return r;
    if (auto r = Run(nd.b, b, code); r != Eval::ok) return r;
    switch (nd.kind) {
      case Kind::add: out = a + b; return Eval::ok;
      case Kind::sub: out = a - b; return Eval::ok;
      case Kind::mul: out = a * b; return Eval::ok;
      case Kind::div:
        if (b == 0.0) return code = 4602, Eval::arithmetic;  // ZeroDivisionError
        out = a / b;
        return Eval::ok;
      case Kind::pow: {
        const Eval r = FloatPow(a, b, out);
        if (r == Eval::arithmetic) code = 4602;
        return r;
      }
      case Kind::xor_:
        return code = 4602, Eval::arithmetic;  // float ^ float: TypeError
      default:
        return code = 4601, Eval::arithmetic;
    }
  }
};

}  // namespace

bool is_fast_alphabet(std::string_view text) {
  for (char c : text) {
    if (IsDigit(c)) continue;
    switch (c) {
      case '.': case 'e': case 'E': case '+': case '-': case '*': case '/': case '(': case ')': case '^':
      case ' ': case '\t':
        continue;
      default:
        return false;
    }
  }
  return true;
}

FastResult evaluate(std::string_view text) {
  std::vector<Token> toks;
  switch (Tokenize(text, toks)) {
    case Lex::syntax: return {Outcome::zero, 0.0, 4601};
    case Lex::defer: return {};
    case Lex::ok: break;
  }
  Parser p(toks);
  const std::int32_t root = p.Parse();
  if (p.status == Parser::Status::syntax) return {Outcome::zero, 0.0, 4601};
  if (p.status == Parser::Status::defer || Height(p.nodes) > kMaxFastDepth) return {};
  Evaluator ev{text, toks, p.nodes};
  double v = 0.0;
  std::int32_t code = 0;
  switch (ev.Run(root, v, code)) {
    case Eval::ok: return {Outcome::value, v, 0};
    case Eval::arithmetic: return {Outcome::zero, 0.0, code};
    case Eval::complex: return {};
  }
  return {};
}

bool accepts(std::string_view text) {
  std::vector<Token> toks;
  if (Tokenize(text, toks) != Lex::ok) return false;
  Parser p(toks);
  p.Parse();
  return p.status == Parser::Status::ok && Height(p.nodes) <= kMaxFastDepth;
}

std::string python_float_repr(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  if (v == 0.0) return std::signbit(v) ? "-0.0" : "0.0";
  // Shortest round-trip digits (the same digits as Python's repr: both pick the shortest string
  // that reads back exactly, and the nearest one among equals).
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, std::fabs(v), std::chars_format::scientific);
  std::string_view sci(buf, static_cast<std::size_t>(res.ptr - buf));
  const std::size_t epos = sci.find('e');
  std::string digits;
  for (char c : sci.substr(0, epos))
    if (c != '.') digits.push_back(c);
  int exp10 = 0;
  std::from_chars(sci.data() + epos + 1 + (sci[epos + 1] == '+' ? 1 : 0), sci.data() + sci.size(), exp10);
  const int decpt = exp10 + 1;  // value = 0.DIGITS x 10^decpt
  std::string out = std::signbit(v) ? "-" : "";
  if (decpt <= -4 || decpt > 16) {
    out += digits[0];
    if (digits.size() > 1) {
      out += '.';
      out.append(digits, 1, std::string::npos);
    }
    out += 'e';
    const int e = decpt - 1;
    out += e < 0 ? '-' : '+';
    const int ae = e < 0 ? -e : e;
    if (ae < 10) out += '0';
    out += std::to_string(ae);
  } else if (decpt <= 0) {
    out += "0.";
    out.append(static_cast<std::size_t>(-decpt), '0');
    out += digits;
  } else if (static_cast<std::size_t>(decpt) >= digits.size()) {
    out += digits;
    out.append(static_cast<std::size_t>(decpt) - digits.size(), '0');
    out += ".0";
  } else {
    out.append(digits, 0, static_cast<std::size_t>(decpt));
    out += '.';
    out.append(digits, static_cast<std::size_t>(decpt), std::string::npos);
  }
  return out;
}

}  // namespace kiln::formula::compat
