#include "kiln/formula/canonical.h"

#include <bit>
#include <cmath>
#include <cstdio>
#include <initializer_list>
#include <string_view>
#include <vector>

#include "kiln/core/error_codes.h"

namespace kiln::formula {

namespace {

using core::program::Item;
using core::program::Op;

// Concatenation by appends: GCC 12's -Wrestrict misfires on `"literal" + std::string` chains.
std::string Cat(std::initializer_list<std::string_view> parts) {
  std::string out;
  for (auto p : parts) out.append(p);
  return out;
}

std::string Literal(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "(-inf)";
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", std::fabs(v));
  // A negative pool constant (only folding makes one) prints as a negation: the language has no
  // negative literals.
  return std::signbit(v) ? Cat({"(-", buf, ")"}) : std::string(buf);
}

std::string_view Infix(Op op) {
  switch (op) {
    case Op::ADD: return " + ";
    case Op::SUB: return " - ";
    case Op::MUL: return " * ";
    case Op::DIV: return " / ";
    case Op::POW: return " ** ";
    case Op::FLOORDIV: return " // ";
    case Op::MOD: return " % ";
    case Op::LT: return " < ";
    case Op::LE: return " <= ";
    case Op::GT: return " > ";
    case Op::GE: return " >= ";
    case Op::EQ: return " == ";
    case Op::NE: return " != ";
    case Op::AND: return " and ";
    case Op::OR: return " or ";
    default: return {};
  }
}

std::string_view Call1(Op op) {
  switch (op) {
    case Op::ABS: return "abs";
    case Op::SQRT: return "sqrt";
    case Op::FLOOR: return "floor";
    case Op::CEIL: return "ceil";
    case Op::TRUNC: return "trunc";
    case Op::ROUND: return "round";
    default: return {};
  }
}

core::Status Bad(std::size_t k, std::string_view why) {
  return core::errors::core_invalid_argument(Cat({"canonical_text: item ", std::to_string(k), ": ", why}));
}

}  // namespace

core::Result<std::string> canonical_text(const Compiled& compiled) {
  const auto& p = compiled.program;
  std::vector<std::string> scalar_names(p.n_vars), list_names(p.n_lists);
  for (const auto& v : compiled.variables) {
    auto& names = v.is_list ? list_names : scalar_names;
    if (v.slot < names.size()) names[v.slot] = Cat({"{", v.name, "}"});
  }
  std::vector<std::string> stack;
  auto pop = [&stack]() {
    std::string s = std::move(stack.back());
    stack.pop_back();
    return s;
  };
  for (std::size_t k = 0; k < p.items.size(); ++k) {
    const Item& it = p.items[k];
    const Op op = static_cast<Op>(it.op);
    const std::size_t need = [&]() -> std::size_t {
      switch (op) {
        case Op::LIT: case Op::VAR: case Op::LAGG: return 0;
        case Op::NEG: case Op::SQR: case Op::NOT: case Op::FN1: case Op::ROUNDN: return 1;
        case Op::SELECT: case Op::CLAMP: return 3;
        default: return Call1(op).empty() ? 2 : 1;
      }
    }();
    if (stack.size() < need) return Bad(k, "stack underflow");
    switch (op) {
      case Op::LIT:
        if (it.token >= p.pool.size()) return Bad(k, "pool index out of range");
        stack.push_back(Literal(p.pool[it.token]));
        break;
      case Op::VAR:
        if (it.token >= scalar_names.size()) return Bad(k, "variable slot out of range");
        stack.push_back(scalar_names[it.token]);
        break;
      case Op::LAGG:
        if (it.token >= list_names.size() || it.arg0 < 0 ||
            static_cast<std::size_t>(it.arg0) >= core::program::kLaggNames.size())
          return Bad(k, "bad list aggregate");
        stack.push_back(Cat({core::program::kLaggNames[static_cast<std::size_t>(it.arg0)], "(", list_names[it.token], ")"}));
        break;
      case Op::NEG: { auto a = pop(); stack.push_back(Cat({"(-", a, ")"})); break; }
      case Op::SQR: { auto a = pop(); stack.push_back(Cat({"(", a, " ** 2)"})); break; }
      case Op::NOT: { auto a = pop(); stack.push_back(Cat({"(not ", a, ")"})); break; }
      case Op::FN1: {
        if (it.arg0 < 0 || static_cast<std::size_t>(it.arg0) >= core::program::kFn1Names.size())
          return Bad(k, "bad FN1 id");
        auto a = pop();
        stack.push_back(Cat({core::program::kFn1Names[static_cast<std::size_t>(it.arg0)], "(", a, ")"}));
        break;
      }
      case Op::FN2: {
        if (it.arg0 < 0 || static_cast<std::size_t>(it.arg0) >= core::program::kFn2Names.size())
          return Bad(k, "bad FN2 id");
        std::string b = pop(), a = pop();
        stack.push_back(Cat({core::program::kFn2Names[static_cast<std::size_t>(it.arg0)], "(", a, ", ", b, ")"}));
        break;
      }
      case Op::ROUNDN: { auto a = pop(); stack.push_back(Cat({"round(", a, ", ", std::to_string(it.arg0), ")"})); break; }
      case Op::MIN: case Op::MAX: {
        std::string b = pop(), a = pop();
        stack.push_back(Cat({op == Op::MIN ? "min(" : "max(", a, ", ", b, ")"}));
        break;
      }
      case Op::SELECT: case Op::CLAMP: {
        std::string c = pop(), b = pop(), a = pop();
        stack.push_back(Cat({op == Op::SELECT ? "if(" : "clamp(", a, ", ", b, ", ", c, ")"}));
        break;
      }
      default: {
        if (auto f = Call1(op); !f.empty()) {
          auto a = pop();
          stack.push_back(Cat({f, "(", a, ")"}));
          break;
        }
        const auto infix = Infix(op);
        if (infix.empty()) return Bad(k, "opcode outside the formula rows");
        std::string b = pop(), a = pop();
        stack.push_back(Cat({"(", a, infix, b, ")"}));
      }
    }
  }
  if (stack.size() != 1) return Bad(p.items.size(), "the program does not leave one value");
  return std::move(stack.back());
}

core::Status check_round_trip(std::string_view text, const CompileOptions& options) {
  auto first = compile_text(text, options);
  if (!first.ok()) return core::Status::OK();
  auto canon = canonical_text(*first);
  if (!canon.ok()) return canon.status();
  auto fail = [&](const std::string& what) {
    return core::errors::core_invalid_argument(Cat({"round trip: ", what, "; text ", text, " printed as ", *canon}));
  };
  auto second = compile_text(*canon, options);
  if (!second.ok()) return fail(Cat({"the canonical text does not compile: ", second.status().message()}));
  const auto &a = first->program, &b = second->program;
  // Literals compare by value, not pool index: the square rule drops a constant exponent's subtree
  // from the items but not its literals from the pool.
  auto literal = [](const core::program::Program& p, const Item& it) { return p.pool[it.token]; };
  if (a.items.size() != b.items.size()) return fail("item counts differ");
  for (std::size_t k = 0; k < a.items.size(); ++k) {
    const Item &x = a.items[k], &y = b.items[k];
    const bool lit = static_cast<Op>(x.op) == Op::LIT && static_cast<Op>(y.op) == Op::LIT;
    if (x.op != y.op || (!lit && x.token != y.token) || x.arg0 != y.arg0 || x.arg1 != y.arg1 || x.flags != y.flags)
      return fail(Cat({"item ", std::to_string(k), " differs"}));
    if (lit) {
      const double u = literal(a, x), v = literal(b, y);
      if (!(std::isnan(u) && std::isnan(v)) && std::bit_cast<std::uint64_t>(u) != std::bit_cast<std::uint64_t>(v))
        return fail(Cat({"literal of item ", std::to_string(k), " differs"}));
    }
  }
  if (a.n_vars != b.n_vars || a.n_lists != b.n_lists || first->variables.size() != second->variables.size())
    return fail("variables differ");
  for (std::size_t k = 0; k < first->variables.size(); ++k) {
    const auto &v = first->variables[k], &w = second->variables[k];
    if (v.name != w.name || v.is_list != w.is_list || v.slot != w.slot) return fail(Cat({"variable ", v.name, " differs"}));
  }
  return core::Status::OK();
}

}  // namespace kiln::formula
