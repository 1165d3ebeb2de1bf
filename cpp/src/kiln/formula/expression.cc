#include "kiln/formula/expression.h"

#include <cmath>

#include "kiln/core/error_codes.h"
#include "kiln/core/program/ops.h"

namespace kiln::formula {

namespace errors = kiln::core::errors;
using core::Result;
using core::Status;
using core::program::Fn1;
using core::program::Fn2;
using core::program::Op;

Result<Expression> Expression::compile(std::string_view text, const CompileOptions& options) {
  auto impl = std::make_shared<Impl>();
  impl->text = std::string(text);
  impl->options = options;
  KILN_ASSIGN_OR_RETURN(impl->compiled, compile_text(impl->text, impl->options));
  Expression e;
  e.impl_ = std::move(impl);
  return e;
}

std::optional<std::uint32_t> Expression::slot(std::string_view name) const {
  const auto& v = impl_->compiled.variables;
  for (std::size_t i = 0; i < v.size(); ++i)
    if (v[i].name == name) return static_cast<std::uint32_t>(i);
  return std::nullopt;
}

Result<double> Expression::evaluate(std::span<const double> scalars, std::span<const ListView> lists) const {
  const auto& p = impl_->compiled.program;
  if (scalars.size() < p.n_vars || lists.size() < p.n_lists)
    return errors::core_invalid_argument("evaluate: fewer inputs than the formula's slots");
  if (impl_->options.mode == Mode::ieee) return core::program::run_scalar(p, scalars.data(), lists.data());
  auto r = core::program::run_scalar_strict(p, scalars.data(), lists.data());
  if (r.tag == 0) return r.value;
  return strict_error(r.tag, scalars.data(), lists.data(), -1, 0);
}

Status Expression::strict_error(std::uint32_t tag, const double* vars, const ListView* lists, std::int64_t row,
                                std::size_t failed) const {
  const Compiled& c = impl_->compiled;
  const std::size_t k = tag - 1;
  const auto& it = c.program.items[k];
  const Span span = c.spans[it.pos];
  Source src(impl_->text, impl_->options.code_point_positions);
  const std::int64_t pos = src.report(span.start);
  std::string where = row < 0 ? "" : " in row " + std::to_string(row) + " (" + std::to_string(failed) + " rows failed)";
  std::string optext(std::string_view(impl_->text).substr(span.start, span.end - span.start));
  const Op op = static_cast<Op>(it.op);
  Status st;
  auto var_name = [&](bool list) -> std::string {
    for (const auto& v : c.variables)
      if (v.is_list == list && v.slot == it.token) return v.name;
    return "?";
  };
  if (op == Op::VAR) {
    st = errors::formula_nonfinite_input(var_name(false), format_double(vars[it.token]), where);
  } else if (op == Op::LAGG) {
    const ListView& l = lists[it.token];
    bool bad = false;
    double badv = 0;
    for (std::size_t j = 0; j < l.size && !bad; ++j)
      if (!std::isfinite(l.data[j])) bad = true, badv = l.data[j];
    if (bad) {
      st = errors::formula_nonfinite_input(var_name(true), format_double(badv), where);
    } else if (l.size == 0) {
      st = errors::formula_empty_aggregate(optext, pos, where);
    } else {
      st = errors::formula_overflow(optext + "()", pos, where);
    }
  } else {
    auto tr = core::program::trace_item(c.program, k, vars, lists);
    const double a = tr.operand[0], b = tr.operand[1];
    bool pole = false;
    switch (op) {
      case Op::DIV: case Op::FLOORDIV: case Op::MOD: pole = b == 0.0; break;
      case Op::POW: pole = a == 0.0 && b < 0.0; break;
      case Op::FN2: pole = it.arg0 == static_cast<int>(Fn2::fmod) && b == 0.0; break;
      case Op::FN1: {
        auto f = static_cast<Fn1>(it.arg0);
        pole = ((f == Fn1::log || f == Fn1::log2 || f == Fn1::log10) && a == 0.0) || (f == Fn1::log1p && a == -1.0) ||
               (f == Fn1::atanh && std::fabs(a) == 1.0);
        break;
      }
      default: break;
    }
    const bool is_call = op == Op::FN1 || op == Op::FN2 || op == Op::SQRT || op == Op::CLAMP || op == Op::ROUNDN ||
                         op == Op::ROUND || op == Op::ABS || op == Op::MIN || op == Op::MAX || op == Op::SELECT ||
                         (op == Op::POW && optext.find_first_of("*^") == std::string::npos) || op == Op::FLOOR ||
                         op == Op::CEIL || op == Op::TRUNC;
    std::string shown = is_call ? optext + "()" : optext;
    if (pole) {
      st = errors::formula_division_by_zero(shown, pos, where);
    } else if (std::isnan(tr.result) || op == Op::CLAMP) {
      std::string args;
      for (int j = 0; j < tr.n_operands; ++j) args += (j ? ", " : "") + format_double(tr.operand[j]);
      st = errors::formula_domain_error(shown, pos, args, where);
    } else {
      st = errors::formula_overflow(shown, pos, where);
    }
  }
  st.with_detail("position", pos);
  st.with_detail("end", src.report(span.end));
  if (row >= 0) {
    st.with_detail("row", row);
    st.with_detail("failed_rows", static_cast<std::int64_t>(failed));
  }
  return st;
}

Status Expression::evaluate_batch(const BatchInput& in, std::span<double> out, const BatchOptions& options) const {
  const auto& p = impl_->compiled.program;
  if (in.columns.size() < p.n_vars || in.lists.size() < p.n_lists || out.size() < in.rows)
    return errors::core_invalid_argument("evaluate_batch: inputs or output smaller than the formula needs");
  if (impl_->options.mode == Mode::ieee) {
    if (!core::program::run_batch(p, in.columns.data(), in.lists.data(), in.rows, out.data(), options.threads,
                                  options.cancelled, options.cancel_arg))
      return errors::core_cancelled("formula evaluation interrupted");
    return Status::OK();
  }
  std::size_t first_row = 0;
  std::uint32_t tag = 0;
  std::size_t failed =
      core::program::run_batch_strict(p, in.columns.data(), in.lists.data(), in.rows, out.data(), &first_row, &tag,
                                     in.valid);
  if (failed == 0) return Status::OK();
  std::vector<double> vars(p.n_vars + 1);
  std::vector<ListView> lrefs(p.n_lists + 1);
  core::program::gather_row(p, in.columns.data(), in.lists.data(), first_row, vars.data(), lrefs.data());
  return strict_error(tag, vars.data(), lrefs.data(), static_cast<std::int64_t>(first_row), failed);
}

std::string Expression::disassemble() const {
  std::string s;
  const auto& p = impl_->compiled.program;
  for (std::size_t i = 0; i < p.items.size(); ++i) {
    const auto& it = p.items[i];
    const auto* info = core::program::op_info(it.op);
    s += std::to_string(i) + "  " + std::string(info ? info->name : "?");
    // Appends piecewise: GCC 12 reports a false -Wrestrict on `" " + std::string`.
    std::string arg;
    switch (static_cast<Op>(it.op)) {
      case Op::LIT: arg = format_double(p.pool[it.token]); break;
      case Op::VAR: arg.append("$").append(std::to_string(it.token)); break;
      case Op::LAGG:
        arg.append(core::program::kLaggNames[it.arg0]).append(" @").append(std::to_string(it.token));
        break;
      case Op::FN1: arg = std::string(core::program::kFn1Names[it.arg0]); break;
      case Op::FN2: arg = std::string(core::program::kFn2Names[it.arg0]); break;
      case Op::ROUNDN: arg = std::to_string(it.arg0); break;
      default: break;
    }
    if (!arg.empty()) s.append(" ").append(arg);
    s += "\n";
  }
  return s;
}

}  // namespace kiln::formula
