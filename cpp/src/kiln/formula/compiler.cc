#include "kiln/formula/compiler.h"

#include <bit>
#include <limits>
#include <cmath>
#include <numbers>
#include <optional>
#include <unordered_map>

#include "kiln/core/error_codes.h"
#include "kiln/core/program/ops.h"
#include "kiln/formula/functions.h"
#include "kiln/formula/lexer.h"

namespace kiln::formula {

namespace errors = kiln::core::errors;
using core::Result;
using core::Status;
using core::program::Item;
using core::program::Op;

bool is_builtin_constant(std::string_view n, double* value) {
  double v;
  if (n == "pi") v = std::numbers::pi;
  else if (n == "e") v = std::numbers::e;
  else if (n == "tau") v = 2 * std::numbers::pi;
  else if (n == "inf") v = INFINITY;
  else if (n == "nan") v = NAN;
  else if (n == "true" || n == "True") v = 1.0;
  else if (n == "false" || n == "False") v = 0.0;
  else return false;
  if (value) *value = v;
  return true;
}

Status check_options(const CompileOptions& o) {
  const Limits& l = o.limits;
  auto bad = [](std::string_view opt, std::string_view why) { return errors::formula_invalid_option(opt, why); };
  if (l.max_length < 1 || l.max_length > (16u << 20)) return bad("max_length", "must lie in [1, 16777216]");
  if (l.max_depth < 1 || l.max_depth > 256) return bad("max_depth", "must lie in [1, 256]");
  if (l.max_nodes < 1 || l.max_nodes > 65535) return bad("max_nodes", "must lie in [1, 65535]");
  if (l.max_args < 1 || l.max_args > 255) return bad("max_args", "must lie in [1, 255]");
  if (l.max_name_bytes < 1 || l.max_name_bytes > 255) return bad("max_name_bytes", "must lie in [1, 255]");
  for (const auto& [name, value] : o.constants) {
    bool ident = !name.empty() && !(name[0] >= '0' && name[0] <= '9');
    for (char c : name) ident = ident && (std::isalnum(static_cast<unsigned char>(c)) || c == '_');
    if (!ident || name.size() > 255) return bad("constants", "'" + name + "' is not an identifier");
    if (is_builtin_constant(name) || name == "and" || name == "or" || name == "not" || name == "if")
      return bad("constants", "'" + name + "' is a built-in constant or reserved word");
    if (!std::isfinite(value)) return bad("constants", "the value of '" + name + "' is not finite");
  }
  return Status::OK();
}

namespace {

// Operand kinds tracked at compile time.
enum class Kind : std::uint8_t { Other, Const, Var, Neg, Cmp };

struct Operand {
  std::size_t start = 0;  // first item of this operand's span (the span runs to the next operand or the end)
  Kind kind = Kind::Other;
  bool known = false;     // value known at compile time (even when folding is off)
  double value = 0.0;
  std::uint32_t sym = 0;  // Var: symbol index
  Span span{};            // source of the operand's leading token (errors)
  // Cmp: the right operand of the last comparison, replayed by a chained comparison.
  std::vector<Item> cmp_items;
  std::vector<Span> cmp_spans;
  bool cmp_known = false;
  double cmp_value = 0.0;
};

enum class PKind : std::uint8_t { Binary, Neg, Plus, Not, LParen, Call };

struct Pending {
  PKind kind;
  Tok tok = Tok::End;
  bool is_and = false, is_or = false;
  int prec = 0;
  Span span{};
  const Function* fn = nullptr;
  std::size_t operand_base = 0;  // Call: operand stack size when the call opened
  std::uint32_t argc = 0;
};

struct Symbol {
  std::string name;
  Span first{};
  std::uint32_t scalar_uses = 0, list_uses = 0;
  Span first_scalar{}, first_list{}, list_call{};
  std::string list_fn;
};

int Prec(Tok t) {
  switch (t) {
    case Tok::Lt: case Tok::Le: case Tok::Gt: case Tok::Ge: case Tok::EqEq: case Tok::Ne: return 4;
    case Tok::Plus: case Tok::Minus: return 5;
    case Tok::Star: case Tok::Slash: case Tok::SlashSlash: case Tok::Percent: return 6;
    case Tok::Pow: return 8;
    default: return 0;
  }
}

Op BinOp(Tok t) {
  switch (t) {
    case Tok::Plus: return Op::ADD;
    case Tok::Minus: return Op::SUB;
    case Tok::Star: return Op::MUL;
    case Tok::Slash: return Op::DIV;
    case Tok::SlashSlash: return Op::FLOORDIV;
    case Tok::Percent: return Op::MOD;
    case Tok::Pow: return Op::POW;
    case Tok::Lt: return Op::LT;
    case Tok::Le: return Op::LE;
    case Tok::Gt: return Op::GT;
    case Tok::Ge: return Op::GE;
    case Tok::EqEq: return Op::EQ;
    case Tok::Ne: return Op::NE;
    default: return Op::NOP;
  }
}

bool IsCmp(Tok t) { return Prec(t) == 4; }
bool Bits(double a, double b) { return std::bit_cast<std::uint64_t>(a) == std::bit_cast<std::uint64_t>(b); }

class Compiler {
 public:
  Compiler(std::string_view text, const CompileOptions& o)
      : src_(text, o.code_point_positions), opt_(o), lex_(src_, o.limits) {}

  Result<Compiled> run();

 private:
  Status next() {
    if (have_peek_) {
      cur_ = peek_;
      have_peek_ = false;
      return Status::OK();
    }
    return lex_.next(&cur_);
  }
  Status peek(Token** t) {
    if (!have_peek_) {
      KILN_RETURN_NOT_OK(lex_.next(&peek_));
      have_peek_ = true;
    }
    *t = &peek_;
    return Status::OK();
  }
  Status count_node(Span s) {
    if (++nodes_ > opt_.limits.max_nodes)
      return src_.locate(errors::formula_too_many_nodes("syntax-tree node count", opt_.limits.max_nodes, src_.report(s.start)), s);
    return Status::OK();
  }
  std::uint32_t intern(double v) {
    // One NaN in the pool: folded NaNs differ in sign/payload between libm and Python's math, and
    // results identify NaNs anyway; the canonical quiet NaN keeps pools byte-identical.
    if (v != v) v = std::numeric_limits<double>::quiet_NaN();
    for (std::size_t i = 0; i < pool_.size(); ++i)
      if (Bits(pool_[i], v)) return static_cast<std::uint32_t>(i);
    pool_.push_back(v);
    return static_cast<std::uint32_t>(pool_.size() - 1);
  }
  void emit(Op op, Span span, std::uint32_t token = 0, std::int16_t arg0 = 0) {
    Item it;
    it.op = static_cast<std::uint8_t>(op);
    it.token = token;
    it.arg0 = arg0;
    items_.push_back(it);
    spans_.push_back(span);
  }
  void erase(std::size_t from, std::size_t to) {
    items_.erase(items_.begin() + from, items_.begin() + to);
    spans_.erase(spans_.begin() + from, spans_.begin() + to);
  }
  void push_const(double v, Span span) {
    Operand o;
    o.start = items_.size();
    o.kind = Kind::Const;
    o.known = true;
    o.value = v;
    o.span = span;
    emit(Op::LIT, span, intern(v));
    operands_.push_back(std::move(o));
  }
  // Replaces everything from `start` with one literal (a folded subtree).
  void collapse(std::size_t start, double v, Span span) {
    erase(start, items_.size());
    Operand o;
    o.start = start;
    o.kind = Kind::Const;
    o.known = true;
    o.value = v;
    o.span = span;
    emit(Op::LIT, span, intern(v));
    operands_.push_back(std::move(o));
  }
  bool can_fold(double r) const { return opt_.fold && (opt_.mode == Mode::ieee || std::isfinite(r)); }

  Status operand_token();
  Status reduce(Pending p);
  Status reduce_binary(const Pending& p);
  Status reduce_call(const Pending& p);
  Status use_variable(std::string_view name, Span span);
  Status unexpected(const Token& t, std::string_view expected) {
    if (t.kind == Tok::End)
      return src_.locate(errors::formula_unexpected_end(src_.report(t.span.start), expected), t.span);
    return src_.locate(errors::formula_unexpected_token(describe(t, src_.text()), src_.report(t.span.start), expected), t.span);
  }
  bool not_allowed_here() const {
    if (ops_.empty()) return false;
    const Pending& p = ops_.back();
    return !(p.kind == PKind::LParen || p.kind == PKind::Call || p.kind == PKind::Not || p.is_and || p.is_or);
  }

  Source src_;
  const CompileOptions& opt_;
  Lexer lex_;
  Token cur_, peek_;
  bool have_peek_ = false;
  std::vector<Item> items_;
  std::vector<Span> spans_;
  std::vector<double> pool_;
  std::vector<Operand> operands_;
  std::vector<Pending> ops_;
  std::vector<Symbol> symbols_;
  std::unordered_map<std::string, std::uint32_t> sym_index_;
  std::vector<std::string> functions_;
  std::uint32_t nodes_ = 0;
};

Status Compiler::use_variable(std::string_view name, Span span) {
  KILN_RETURN_NOT_OK(count_node(span));
  std::string key(name);
  auto it = sym_index_.find(key);
  std::uint32_t idx;
  if (it == sym_index_.end()) {
    idx = static_cast<std::uint32_t>(symbols_.size());
    Symbol s;
    s.name = key;
    s.first = span;
    symbols_.push_back(std::move(s));
    sym_index_.emplace(std::move(key), idx);
  } else {
    idx = it->second;
  }
  Symbol& s = symbols_[idx];
  if (s.scalar_uses++ == 0) s.first_scalar = span;
  Operand o;
  o.start = items_.size();
  o.kind = Kind::Var;
  o.sym = idx;
  o.span = span;
  emit(Op::VAR, span, idx);
  operands_.push_back(std::move(o));
  return Status::OK();
}

// An operand is expected and cur_ is not an operator: number, name, placeholder.
Status Compiler::operand_token() {
  const Token t = cur_;
  if (t.kind == Tok::Number) {
    KILN_RETURN_NOT_OK(count_node(t.span));
    push_const(t.number, t.span);
    return Status::OK();
  }
  if (t.kind == Tok::Placeholder) return use_variable(t.name, t.span);
  // Name
  if (t.name == "and" || t.name == "or")
    return src_.locate(errors::formula_reserved_word(t.name, src_.report(t.span.start), "; an operand is expected here"), t.span);
  Token* nx = nullptr;
  KILN_RETURN_NOT_OK(peek(&nx));
  if (nx->kind == Tok::LParen) {
    const Function* fn = find_function(t.name);
    if (fn == nullptr) {
      auto sug = nearest(t.name, function_names(), 2, true);
      std::string hint = sug ? "; did you mean " + *sug + "()?" : "";
      return src_.locate(errors::formula_unknown_function(t.name, src_.report(t.span.start), hint), t.span);
    }
    KILN_RETURN_NOT_OK(count_node(t.span));
    bool seen = false;
    for (const auto& f : functions_) seen = seen || f == fn->name;
    if (!seen) functions_.emplace_back(fn->name);
    KILN_RETURN_NOT_OK(next());  // consume '('
    Pending p{PKind::Call};
    p.fn = fn;
    p.span = t.span;
    p.operand_base = operands_.size();
    ops_.push_back(p);
    return Status::OK();
  }
  if (t.name == "if")
    return src_.locate(errors::formula_reserved_word(t.name, src_.report(t.span.start), "; write if(c, a, b)"), t.span);
  double v;
  if (is_builtin_constant(t.name, &v)) {
    if (opt_.mode == Mode::strict && !std::isfinite(v))
      return src_.locate(errors::formula_nonfinite_constant(t.name, src_.report(t.span.start)), t.span);
    KILN_RETURN_NOT_OK(count_node(t.span));
    push_const(v, t.span);
    return Status::OK();
  }
  for (const auto& [name, value] : opt_.constants) {
    if (name == t.name) {
      KILN_RETURN_NOT_OK(count_node(t.span));
      push_const(value, t.span);
      return Status::OK();
    }
  }
  return use_variable(t.name, t.span);
}

Status Compiler::reduce(Pending p) {
  switch (p.kind) {
    case PKind::Plus: {
      Operand& a = operands_.back();
      if (a.kind == Kind::Cmp) a.kind = Kind::Other;
      return Status::OK();
    }
    case PKind::Neg: {
      Operand a = std::move(operands_.back());
      operands_.pop_back();
      if (a.known && can_fold(-a.value)) {
        collapse(a.start, -a.value, a.span);
        operands_.back().span = p.span;
        return Status::OK();
      }
      if (a.kind == Kind::Neg && opt_.fold) {  // -(-x) -> x: exact
        erase(items_.size() - 1, items_.size());
        a.kind = Kind::Other;
        operands_.push_back(std::move(a));
        return Status::OK();
      }
      emit(Op::NEG, p.span);
      Operand r;
      r.start = a.start;
      r.kind = Kind::Neg;
      r.known = a.known;
      r.value = -a.value;
      r.span = p.span;
      operands_.push_back(std::move(r));
      return Status::OK();
    }
    case PKind::Not: {
      Operand a = std::move(operands_.back());
      operands_.pop_back();
      double v = a.value == 0.0 ? 1.0 : 0.0;
      if (a.known && can_fold(v)) {
        collapse(a.start, v, p.span);
        return Status::OK();
      }
      emit(Op::NOT, p.span);
      Operand r;
      r.start = a.start;
      r.known = a.known;
      r.value = v;
      r.span = p.span;
      operands_.push_back(std::move(r));
      return Status::OK();
    }
    case PKind::Binary: return reduce_binary(p);
    default: return Status::OK();
  }
}

Status Compiler::reduce_binary(const Pending& p) {
  Operand b = std::move(operands_.back());
  operands_.pop_back();
  Operand a = std::move(operands_.back());
  operands_.pop_back();
  Op op = p.is_and ? Op::AND : (p.is_or ? Op::OR : BinOp(p.tok));
  auto result = [&](Operand r) { operands_.push_back(std::move(r)); };

  if (IsCmp(p.tok) && a.kind == Kind::Cmp) {
    // a < b < c: emit a b LT, then (b c LT), then AND; b is replayed (pure, so the same value).
    std::vector<Item> mid = a.cmp_items;
    std::vector<Span> mid_spans = a.cmp_spans;
    items_.insert(items_.begin() + static_cast<std::ptrdiff_t>(b.start), mid.begin(), mid.end());
    spans_.insert(spans_.begin() + static_cast<std::ptrdiff_t>(b.start), mid_spans.begin(), mid_spans.end());
    Operand m;
    m.start = b.start;
    m.known = a.cmp_known;
    m.value = a.cmp_value;
    b.start += mid.size();
    // the right comparison
    Operand rc;
    rc.start = m.start;
    rc.known = m.known && b.known;
    if (rc.known) rc.value = core::program::ops::apply(op, 0, m.value, b.value, 0);
    rc.cmp_items.assign(items_.begin() + static_cast<std::ptrdiff_t>(b.start), items_.end());
    rc.cmp_spans.assign(spans_.begin() + static_cast<std::ptrdiff_t>(b.start), spans_.end());
    rc.cmp_known = b.known;
    rc.cmp_value = b.value;
    if (rc.known && can_fold(rc.value)) {
      erase(rc.start, items_.size());
      emit(Op::LIT, p.span, intern(rc.value));
    } else {
      emit(op, p.span);
    }
    // AND of the two comparisons
    Operand r;
    r.start = a.start;
    r.kind = Kind::Cmp;
    r.cmp_items = std::move(rc.cmp_items);
    r.cmp_spans = std::move(rc.cmp_spans);
    r.cmp_known = rc.cmp_known;
    r.cmp_value = rc.cmp_value;
    r.span = a.span;
    // Known at compile time with short-circuit rules (a falsy known `a` decides alone), whether
    // or not folding is on: the F6 square rule depends on it, and fold on/off must agree.
    double av = a.value;
    if (a.known && (!core::program::ops::truthy(av) || rc.known)) {
      r.known = true;
      r.value = core::program::ops::truthy(av) ? rc.value : av;
    }
    if (a.known && opt_.fold) {
      if (!core::program::ops::truthy(av)) {
        erase(rc.start, items_.size());  // a falsy: the chain is a
      } else {
        erase(a.start, rc.start);  // a truthy: the chain is the right comparison
      }
    } else {
      emit(Op::AND, p.span);
    }
    result(std::move(r));
    return Status::OK();
  }

  Operand r;
  r.start = a.start;
  r.span = a.span;
  if (a.known && b.known) {
    r.known = true;
    r.value = core::program::ops::apply(op, 0, a.value, b.value, 0);
  } else if (a.known && (op == Op::AND || op == Op::OR) &&
             core::program::ops::truthy(a.value) == (op == Op::OR)) {
    r.known = true;  // short-circuit: the known left operand is the value
    r.value = a.value;
  }
  if (IsCmp(p.tok)) {
    r.kind = Kind::Cmp;
    r.cmp_items.assign(items_.begin() + static_cast<std::ptrdiff_t>(b.start), items_.end());
    r.cmp_spans.assign(spans_.begin() + static_cast<std::ptrdiff_t>(b.start), spans_.end());
    r.cmp_known = b.known;
    r.cmp_value = b.value;
  }
  // A power whose exponent is the constant 2 is a square (F6), with or without folding, so that
  // fold on and off agree bitwise.
  if (op == Op::POW && b.known && Bits(b.value, 2.0)) {
    if (r.known && can_fold(r.value = a.value * a.value)) {
      collapse(a.start, r.value, a.span);
      return Status::OK();
    }
    erase(b.start, items_.size());
    emit(Op::SQR, p.span);
    result(std::move(r));
    return Status::OK();
  }
  if (r.known && can_fold(r.value)) {
    std::vector<Item> keep_items = std::move(r.cmp_items);
    collapse(a.start, r.value, a.span);
    Operand& c = operands_.back();
    if (IsCmp(p.tok)) {
      c.kind = Kind::Cmp;
      c.cmp_items = std::move(keep_items);
      c.cmp_spans = std::move(r.cmp_spans);
      c.cmp_known = r.cmp_known;
      c.cmp_value = r.cmp_value;
    }
    return Status::OK();
  }
  if (opt_.fold) {
    // IEEE-exact identities only (A.3.3).
    auto keep_a = [&]() {
      erase(b.start, items_.size());
      a.kind = a.kind == Kind::Cmp ? Kind::Other : a.kind;
      result(std::move(a));
    };
    auto keep_b = [&]() {
      erase(a.start, b.start);
      b.start = a.start;
      b.kind = b.kind == Kind::Cmp ? Kind::Other : b.kind;
      result(std::move(b));
    };
    if (op == Op::MUL && b.known && Bits(b.value, 1.0)) return keep_a(), Status::OK();
    if (op == Op::MUL && a.known && Bits(a.value, 1.0)) return keep_b(), Status::OK();
    if (op == Op::DIV && b.known && Bits(b.value, 1.0)) return keep_a(), Status::OK();
    if (op == Op::SUB && b.known && Bits(b.value, 0.0)) return keep_a(), Status::OK();
    if (op == Op::ADD && b.known && Bits(b.value, -0.0)) return keep_a(), Status::OK();
    if (op == Op::POW && b.known && Bits(b.value, 1.0)) return keep_a(), Status::OK();
    if (op == Op::POW && b.known && b.value == 0.0 && opt_.mode == Mode::ieee) {
      collapse(a.start, 1.0, a.span);
      return Status::OK();
    }
    if ((op == Op::AND || op == Op::OR) && a.known) {
      bool t = core::program::ops::truthy(a.value);
      if ((op == Op::AND) != t) return keep_a(), Status::OK();
      return keep_b(), Status::OK();
    }
  }
  emit(op, p.span);
  result(std::move(r));
  return Status::OK();
}

Status Compiler::reduce_call(const Pending& p) {
  const Function& fn = *p.fn;
  const std::uint32_t argc = p.argc;
  std::vector<Operand> args;
  for (std::size_t i = p.operand_base; i < operands_.size(); ++i) args.push_back(std::move(operands_[i]));
  operands_.resize(p.operand_base);
  const std::size_t start = args.empty() ? items_.size() : args.front().start;
  auto arity = [&](std::string expected) {
    return src_.locate(errors::formula_wrong_arity(fn.name, src_.report(p.span.start), expected, argc), p.span);
  };
  auto finish = [&](Op op, std::int16_t arg0, int n) {
    // Fold when every argument is known.
    bool known = true;
    double v[3] = {0, 0, 0};
    for (int i = 0; i < n; ++i) {
      known = known && args[i].known;
      v[i] = args[i].value;
    }
    if (op == Op::SELECT && args[0].known) {  // short-circuit: only the chosen branch matters
      const Operand& chosen = core::program::ops::truthy(args[0].value) ? args[1] : args[2];
      known = chosen.known;
    }
    Operand r;
    r.start = start;
    r.span = p.span;
    if (known) {
      r.known = true;
      r.value = core::program::ops::apply(op, arg0, v[0], v[1], v[2]);
      // strict: clamp with lo > hi is a runtime domain error, so it is not folded away
      const bool strict_error = opt_.mode == Mode::strict && op == Op::CLAMP && v[1] > v[2];
      if (can_fold(r.value) && !strict_error) {
        collapse(start, r.value, p.span);
        return Status::OK();
      }
    }
    emit(op, p.span, 0, arg0);
    operands_.push_back(std::move(r));
    return Status::OK();
  };
  auto list_arg = [&](std::int16_t agg) -> Status {
    Operand& a = args[0];
    if (a.kind != Kind::Var || items_.size() != a.start + 1)
      return src_.locate(errors::formula_list_misuse(fn.name, src_.report(p.span.start),
                                                     "takes one list variable (write the name of the list, as in " +
                                                         std::string(fn.name) + "(v))"),
                         p.span);
    Symbol& s = symbols_[a.sym];
    --s.scalar_uses;
    if (s.list_uses++ == 0) {
      s.first_list = a.span;
      s.list_call = p.span;
      s.list_fn = std::string(fn.name);
    }
    Item& it = items_.back();
    it.op = static_cast<std::uint8_t>(Op::LAGG);
    it.arg0 = agg;
    spans_.back() = p.span;
    Operand r;
    r.start = a.start;
    r.span = p.span;
    operands_.push_back(std::move(r));
    return Status::OK();
  };
  switch (fn.kind) {
    case FnKind::Op:
    case FnKind::Fn1:
    case FnKind::Fn2:
    case FnKind::Select: {
      if (argc != static_cast<std::uint32_t>(fn.arity)) return arity(std::to_string(fn.arity));
      if (fn.kind == FnKind::Select && opt_.fold && args[0].known) {
        bool t = core::program::ops::truthy(args[0].value);
        // Keep only the chosen branch.
        if (t) {
          erase(args[2].start, items_.size());
          erase(args[0].start, args[1].start);
          args[1].start = start;
          operands_.push_back(std::move(args[1]));
        } else {
          erase(args[0].start, args[2].start);
          args[2].start = start;
          operands_.push_back(std::move(args[2]));
        }
        Operand& r = operands_.back();
        if (r.kind == Kind::Cmp) r.kind = Kind::Other;
        return Status::OK();
      }
      if (fn.op == Op::POW) {
        Pending bp{PKind::Binary};
        bp.tok = Tok::Pow;
        bp.span = p.span;
        for (auto& a : args) operands_.push_back(std::move(a));
        return reduce_binary(bp);
      }
      std::int16_t arg0 = fn.kind == FnKind::Fn1 || fn.kind == FnKind::Fn2 ? fn.id : 0;
      return finish(fn.op, arg0, fn.arity);
    }
    case FnKind::Round: {
      if (argc == 1) return finish(Op::ROUND, 0, 1);
      if (argc != 2) return arity("1 or 2");
      Operand& n = args[1];
      if (!n.known || !(n.value >= -308 && n.value <= 308) || n.value != std::floor(n.value)) {
        Span s = spans_[n.start];
        return src_.locate(errors::formula_constant_required(2, fn.name, src_.report(s.start), -308, 308), s);
      }
      erase(n.start, items_.size());
      return finish(Op::ROUNDN, static_cast<std::int16_t>(n.value), 1);
    }
    case FnKind::Aggregate: {
      if (argc != 1) return arity("1");
      return list_arg(fn.id);
    }
    case FnKind::MinMax: {
      if (argc == 1) return list_arg(fn.id);
      if (argc == 0) return arity("2-255 (or one list variable)");
      // Left fold: a b OP c OP ...; rebuild the argument items with the operators interleaved.
      std::vector<Item> seg(items_.begin() + static_cast<std::ptrdiff_t>(start), items_.end());
      std::vector<Span> segs(spans_.begin() + static_cast<std::ptrdiff_t>(start), spans_.end());
      erase(start, items_.size());
      bool known = true;
      double acc = 0.0;
      for (std::uint32_t i = 0; i < argc; ++i) {
        std::size_t b = args[i].start - start, e = (i + 1 < argc ? args[i + 1].start : start + seg.size()) - start;
        items_.insert(items_.end(), seg.begin() + static_cast<std::ptrdiff_t>(b), seg.begin() + static_cast<std::ptrdiff_t>(e));
        spans_.insert(spans_.end(), segs.begin() + static_cast<std::ptrdiff_t>(b), segs.begin() + static_cast<std::ptrdiff_t>(e));
        known = known && args[i].known;
        if (i == 0) {
          acc = args[i].value;
        } else {
          acc = core::program::ops::apply(fn.op, 0, acc, args[i].value, 0);
          emit(fn.op, p.span);
        }
      }
      Operand r;
      r.start = start;
      r.span = p.span;
      r.known = known;
      r.value = acc;
      if (known && can_fold(acc)) {
        collapse(start, acc, p.span);
        return Status::OK();
      }
      operands_.push_back(std::move(r));
      return Status::OK();
    }
  }
  return Status::OK();
}

Result<Compiled> Compiler::run() {
  KILN_RETURN_NOT_OK(check_options(opt_));
  const std::string_view text = src_.text();
  if (text.size() > opt_.limits.max_length) {
    std::size_t at = opt_.limits.max_length;
    return src_.locate(errors::formula_too_long("formula length in bytes", opt_.limits.max_length, src_.report(at)),
                       Span{static_cast<std::uint32_t>(at), static_cast<std::uint32_t>(at + 1)});
  }
  if (std::size_t bad = find_invalid_utf8(text); bad != std::string_view::npos) {
    Status st = errors::formula_invalid_utf8(static_cast<std::int64_t>(bad));
    st.with_detail("position", static_cast<std::int64_t>(bad));
    st.with_detail("end", static_cast<std::int64_t>(bad + 1));
    return st;
  }
  bool expect_operand = true;
  bool any = false;
  for (;;) {
    KILN_RETURN_NOT_OK(next());
    const Token t = cur_;
    if (expect_operand) {
      switch (t.kind) {
        case Tok::Number:
        case Tok::Placeholder:
          KILN_RETURN_NOT_OK(operand_token());
          expect_operand = false;
          break;
        case Tok::Name:
          if (t.name == "not") {
            if (not_allowed_here())
              return src_.locate(errors::formula_reserved_word(t.name, src_.report(t.span.start),
                                                               "; put the not-expression in parentheses"),
                                 t.span);
            KILN_RETURN_NOT_OK(count_node(t.span));
            Pending p{PKind::Not};
            p.prec = 3;
            p.span = t.span;
            ops_.push_back(p);
            break;
          }
          {
            std::size_t before = ops_.size();
            KILN_RETURN_NOT_OK(operand_token());
            // a call opened: an operand (its first argument) is expected next
            expect_operand = ops_.size() == before + 1 && ops_.back().kind == PKind::Call;
          }
          break;
        case Tok::LParen: {
          Pending p{PKind::LParen};
          p.span = t.span;
          ops_.push_back(p);
          break;
        }
        case Tok::Plus:
        case Tok::Minus: {
          KILN_RETURN_NOT_OK(count_node(t.span));
          Pending p{t.kind == Tok::Plus ? PKind::Plus : PKind::Neg};
          p.prec = 7;
          p.span = t.span;
          ops_.push_back(p);
          break;
        }
        case Tok::RParen:
          if (!ops_.empty() && ops_.back().kind == PKind::Call && ops_.back().argc == 0 &&
              operands_.size() == ops_.back().operand_base) {
            Pending c = ops_.back();
            ops_.pop_back();
            KILN_RETURN_NOT_OK(reduce_call(c));
            expect_operand = false;
            break;
          }
          return unexpected(t, "an operand");
        case Tok::End:
          if (!any) return src_.locate(errors::formula_empty(), t.span);
          return unexpected(t, "an operand");
        default:
          return unexpected(t, "an operand");
      }
      any = true;
      continue;
    }
    // An operator (or the end) is expected.
    int prec = 0;
    bool is_and = false, is_or = false;
    if (t.kind == Tok::Name && (t.name == "and" || t.name == "or")) {
      is_and = t.name == "and";
      is_or = !is_and;
      prec = is_and ? 2 : 1;
    } else if (t.kind == Tok::Name && (t.name == "if" || t.name == "not")) {
      return src_.locate(errors::formula_reserved_word(t.name, src_.report(t.span.start),
                                                       t.name == "if" ? "; write if(c, a, b)" : "; not is a prefix operator"),
                         t.span);
    } else {
      prec = Prec(t.kind);
    }
    if (prec > 0) {
      const bool right = t.kind == Tok::Pow;
      while (!ops_.empty()) {
        const Pending& top = ops_.back();
        if (top.kind == PKind::LParen || top.kind == PKind::Call) break;
        if (top.prec > prec || (top.prec == prec && !right)) {
          Pending q = top;
          ops_.pop_back();
          KILN_RETURN_NOT_OK(reduce(q));
        } else {
          break;
        }
      }
      KILN_RETURN_NOT_OK(count_node(t.span));
      Pending p{PKind::Binary};
      p.tok = t.kind;
      p.is_and = is_and;
      p.is_or = is_or;
      p.prec = prec;
      p.span = t.span;
      ops_.push_back(p);
      expect_operand = true;
      continue;
    }
    if (t.kind == Tok::Comma || t.kind == Tok::RParen || t.kind == Tok::End) {
      while (!ops_.empty() && ops_.back().kind != PKind::LParen && ops_.back().kind != PKind::Call) {
        Pending q = ops_.back();
        ops_.pop_back();
        KILN_RETURN_NOT_OK(reduce(q));
      }
      if (t.kind == Tok::End) {
        if (!ops_.empty()) {
          const Pending& open = ops_.back();
          Span s{open.kind == PKind::Call ? open.span.end : open.span.start, 0};
          s.end = s.start + 1;
          return src_.locate(errors::formula_unmatched_parenthesis("'('", src_.report(s.start)), s);
        }
        break;
      }
      if (ops_.empty()) {
        if (t.kind == Tok::RParen)
          return src_.locate(errors::formula_unmatched_parenthesis("')'", src_.report(t.span.start)), t.span);
        return unexpected(t, "an operator or the end of the formula");
      }
      Pending& open = ops_.back();
      if (t.kind == Tok::Comma) {
        if (open.kind != PKind::Call) return unexpected(t, "an operator or ')'");
        if (++open.argc >= opt_.limits.max_args)
          return src_.locate(errors::formula_too_many_arguments("argument count", opt_.limits.max_args, src_.report(t.span.start)),
                             t.span);
        expect_operand = true;
        continue;
      }
      Pending q = open;
      ops_.pop_back();
      if (q.kind == PKind::LParen) {
        Operand& o = operands_.back();
        if (o.kind == Kind::Cmp) o.kind = Kind::Other;  // (a < b) < c does not chain
        o.span = Span{q.span.start, t.span.end};
      } else {
        ++q.argc;
        KILN_RETURN_NOT_OK(reduce_call(q));
      }
      continue;
    }
    // Two operands in a row.
    return unexpected(t, "an operator or the end of the formula");
  }

  // A name is either a list (argument of an aggregate) or a scalar, never both.
  for (const Symbol& s : symbols_) {
    if (s.scalar_uses > 0 && s.list_uses > 0) {
      std::string reason = "is used as a scalar here but as a list in " + s.list_fn + "() at position " +
                           std::to_string(src_.report(s.list_call.start)) + "; aggregate it first, e.g. max(max(" +
                           s.name + "), 0)";
      Status st = src_.locate(errors::formula_list_misuse(s.name, src_.report(s.first_scalar.start), reason), s.first_scalar);
      st.with_detail("list_position", src_.report(s.list_call.start));
      return st;
    }
  }
  Compiled out;
  std::vector<std::uint32_t> slot(symbols_.size());
  std::uint32_t n_scalar = 0, n_list = 0;
  for (std::size_t i = 0; i < symbols_.size(); ++i) {
    Variable v;
    v.name = symbols_[i].name;
    v.is_list = symbols_[i].list_uses > 0;
    v.first_position = src_.report(symbols_[i].first.start);
    v.slot = slot[i] = v.is_list ? n_list++ : n_scalar++;
    out.variables.push_back(std::move(v));
  }
  if (items_.size() > opt_.limits.max_nodes) {
    Span s = spans_[opt_.limits.max_nodes];
    return src_.locate(errors::formula_too_many_nodes("program item count", opt_.limits.max_nodes, src_.report(s.start)), s);
  }
  int depth = 0, best = 0;
  for (std::size_t i = 0; i < items_.size(); ++i) {
    Item& it = items_[i];
    if (it.op == static_cast<std::uint8_t>(Op::VAR) || it.op == static_cast<std::uint8_t>(Op::LAGG)) it.token = slot[it.token];
    it.pos = static_cast<std::uint16_t>(i);
    const auto* info = core::program::op_info(it.op);
    depth += info->pushes - info->pops;
    if (depth > best) best = depth;
    if (depth > static_cast<int>(opt_.limits.max_depth))
      return src_.locate(errors::formula_too_deep("stack depth", opt_.limits.max_depth, src_.report(spans_[i].start)), spans_[i]);
  }
  out.program.items = std::move(items_);
  out.program.pool = std::move(pool_);
  out.program.n_vars = n_scalar;
  out.program.n_lists = n_list;
  out.spans = std::move(spans_);
  out.functions = std::move(functions_);
  out.node_count = nodes_;
  out.depth = best;
  if (Status st = out.program.check(); !st.ok())
    return errors::internal_error("compiled formula program failed its check: " + st.message());
  return out;
}

}  // namespace

Result<Compiled> compile_text(std::string_view text, const CompileOptions& options) {
  Compiler c(text, options);
  return c.run();
}

}  // namespace kiln::formula
