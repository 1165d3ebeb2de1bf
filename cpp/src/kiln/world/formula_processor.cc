#include "kiln/world/formula_processor.h"

#include <arrow/array.h>
#include <arrow/buffer.h>
#include <arrow/compute/api_scalar.h>
#include <arrow/compute/cast.h>
#include <arrow/record_batch.h>

#include <algorithm>
#include <cstring>

#include "kiln/core/error_codes.h"
#include "kiln/core/buffer_cache.h"
#include "kiln/world/schema.h"

namespace kiln::world {

namespace errors = core::errors;

Status FormulaCause(Code world_code, const std::string& context, const Status& cause) {
  Status st = Error(world_code, context + ": " + cause.message().substr(0, cause.message().find('\n')));
  st.with_detail("cause_number", cause.code());
  st.with_detail("cause_message", cause.message());
  for (const auto& [k, v] : cause.details()) st.with_detail("cause_" + k, v);
  return st;
}

Result<std::unique_ptr<FormulaProcessor>> FormulaProcessor::Make(
    std::string name, const std::vector<std::pair<std::string, std::string>>& rules,
    std::vector<std::pair<std::string, double>> params, std::int32_t priority, formula::Mode mode) {
  const std::string where = "formula processor '" + name + "'";
  if (rules.empty()) return Error(Code::ARCT_ERR_PROCESSOR_CONFIG, where + " has no rules");
  std::vector<Rule> compiled;
  std::vector<std::string> required;
  auto add_required = [&](const std::string& c) {
    if (std::find(required.begin(), required.end(), c) == required.end()) required.push_back(c);
  };
  for (const auto& [pname, value] : params) {
    (void)value;
    for (const char* base : kBaseNames)
      if (pname == base)
        return FormulaCause(Code::ARCT_ERR_PROCESSOR_CONFIG, where,
                            errors::formula_name_conflict(pname));
  }
  for (std::size_t i = 0; i < rules.size(); ++i) {
    const auto& [target, text] = rules[i];
    for (const char* base : kBaseNames)
      if (target == base) return FormulaCause(Code::ARCT_ERR_PROCESSOR_CONFIG, where, errors::formula_target_reserved(target));
    for (std::size_t j = 0; j < i; ++j)
      if (rules[j].first == target)
        return FormulaCause(Code::ARCT_ERR_PROCESSOR_CONFIG, where,
                            errors::formula_duplicate_target(target, static_cast<std::int64_t>(j + 1),
                                                             static_cast<std::int64_t>(i + 1)));
    formula::CompileOptions o;
    o.mode = mode;
    o.code_point_positions = true;
    auto e = formula::Expression::compile(text, o);
    if (!e.ok()) return FormulaCause(Code::ARCT_ERR_PROCESSOR_CONFIG, where, e.status());
    if (e->program().n_lists > 0)
      return FormulaCause(Code::ARCT_ERR_PROCESSOR_CONFIG, where,
                          errors::formula_list_misuse(e->variables()[0].name, 0, "list variables are not world columns"));
    add_required(target);
    for (const auto& v : e->variables()) {
      bool is_param = std::any_of(params.begin(), params.end(), [&](const auto& p) { return p.first == v.name; });
      if (!is_param) add_required(v.name);
    }
    compiled.push_back(Rule{target, std::move(*e)});
  }
  return std::unique_ptr<FormulaProcessor>(
      new FormulaProcessor(std::move(name), priority, std::move(required), std::move(compiled), std::move(params)));
}

Result<std::shared_ptr<arrow::RecordBatch>> FormulaProcessor::Process(const std::shared_ptr<arrow::RecordBatch>& batch,
                                                                      const ProcessContext& ctx) const {
  const std::string where = "formula processor '" + name() + "' on table " + ctx.table;
  const auto& schema = *batch->schema();
  const std::int64_t n = batch->num_rows();
  for (const auto& [pname, value] : params_) {
    (void)value;
    if (schema.GetFieldIndex(pname) >= 0)
      return FormulaCause(Code::ARCT_ERR_PROCESSOR_CONFIG, where, errors::formula_name_conflict(pname));
  }
  // Every rule reads the input batch (a simultaneous update).
  std::vector<std::pair<int, std::shared_ptr<arrow::Array>>> outputs;
  for (const Rule& rule : rules_) {
    const int ti = schema.GetFieldIndex(rule.target);
    if (ti < 0) return Error(Code::ARCT_ERR_MISSING_COLUMN, where + ": missing target column " + rule.target);
    const auto& tfield = schema.field(ti);
    if (tfield->type()->id() != arrow::Type::DOUBLE)
      return FormulaCause(Code::ARCT_ERR_COLUMN_TYPE, where, errors::formula_target_type(rule.target, tfield->type()->ToString()));
    const auto vars = rule.expr.variables();
    std::vector<formula::ColumnRef> cols(rule.expr.program().n_vars);
    std::vector<std::shared_ptr<arrow::Array>> keep;
    std::shared_ptr<arrow::Buffer> validity;
    std::vector<std::uint8_t> valid;
    bool any_null = false;
    for (const auto& v : vars) {
      auto p = std::find_if(params_.begin(), params_.end(), [&](const auto& q) { return q.first == v.name; });
      if (p != params_.end()) {
        cols[v.slot] = formula::ColumnRef{nullptr, p->second};
        continue;
      }
      const int ci = schema.GetFieldIndex(v.name);
      if (ci < 0) return Error(Code::ARCT_ERR_MISSING_COLUMN, where + ": missing column " + v.name);
      std::shared_ptr<arrow::Array> arr = batch->column(ci);
      const auto tid = arr->type_id();
      const bool numeric = arrow::is_integer(tid) || arrow::is_floating(tid) || tid == arrow::Type::BOOL;
      if (!numeric)
        return FormulaCause(Code::ARCT_ERR_COLUMN_TYPE, where, errors::formula_column_type(v.name, arr->type()->ToString()));
      if (tid != arrow::Type::DOUBLE) {
        arrow::compute::CastOptions co = arrow::compute::CastOptions::Unsafe(arrow::float64());
        auto cast = arrow::compute::Cast(*arr, arrow::float64(), co);
        if (!cast.ok()) return Error(Code::ARCT_ERR_PROCESSOR_FAILED, where + ": " + cast.status().message());
        arr = *cast;
      }
      if (arr->null_count() > 0) {
        if (!any_null) valid.assign(static_cast<std::size_t>(n), 1);
        any_null = true;
        for (std::int64_t r = 0; r < n; ++r)
          if (arr->IsNull(r)) valid[static_cast<std::size_t>(r)] = 0;
      }
      cols[v.slot] = formula::ColumnRef{static_cast<const arrow::DoubleArray&>(*arr).raw_values(), 0.0};
      keep.push_back(std::move(arr));
    }
    auto buf = arrow::AllocateBuffer(n * static_cast<std::int64_t>(sizeof(double)), core::ColumnPool());
    if (!buf.ok()) return Error(Code::ARCT_ERR_OUT_OF_MEMORY, buf.status().message());
    double* out = reinterpret_cast<double*>((*buf)->mutable_data());
    formula::BatchInput in{cols, {}, static_cast<std::size_t>(n), any_null ? valid.data() : nullptr};
    Status st = rule.expr.evaluate_batch(in, std::span<double>(out, static_cast<std::size_t>(n)));
    if (!st.ok()) return FormulaCause(Code::ARCT_ERR_PROCESSOR_FAILED, where, st);
    std::int64_t nulls = 0;
    if (any_null) {
      auto bm = arrow::AllocateBitmap(n, core::ColumnPool());
      if (!bm.ok()) return Error(Code::ARCT_ERR_OUT_OF_MEMORY, bm.status().message());
      std::uint8_t* bits = (*bm)->mutable_data();
      std::memset(bits, 0, static_cast<std::size_t>((*bm)->size()));
      for (std::int64_t r = 0; r < n; ++r) {
        if (valid[static_cast<std::size_t>(r)]) {
          bits[r / 8] |= static_cast<std::uint8_t>(1u << (r % 8));
        } else {
          ++nulls;
          out[r] = 0.0;
        }
      }
      validity = std::shared_ptr<arrow::Buffer>(std::move(*bm));
      if (!tfield->nullable())
        return FormulaCause(Code::ARCT_ERR_NULL_VALUE, where, errors::formula_target_not_nullable(rule.target, nulls));
    }
    outputs.emplace_back(ti, std::make_shared<arrow::DoubleArray>(n, std::shared_ptr<arrow::Buffer>(std::move(*buf)),
                                                                 validity, nulls));
  }
  arrow::ArrayVector columns = batch->columns();
  for (auto& [i, arr] : outputs) columns[static_cast<std::size_t>(i)] = std::move(arr);
  return arrow::RecordBatch::Make(batch->schema(), n, std::move(columns));
}

}  // namespace kiln::world
