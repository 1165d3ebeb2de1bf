#include "kiln/world/schema.h"

#include <arrow/array.h>
#include <arrow/record_batch.h>
#include <arrow/type.h>

#include <unordered_set>

namespace kiln::world {

bool IsBaseName(std::string_view name) {
  for (const char* base : kBaseNames)
    if (name == base) return true;
  return false;
}

const arrow::FieldVector& BaseFields() {
  static const arrow::FieldVector fields = {
      arrow::field("world_id", arrow::utf8(), false), arrow::field("run_id", arrow::utf8(), false),
      arrow::field("entity_id", arrow::int32(), false), arrow::field("tick", arrow::int32(), false),
      arrow::field("is_active", arrow::boolean(), false)};
  return fields;
}

Result<std::shared_ptr<arrow::Schema>> NormalizeTableSchema(const std::shared_ptr<arrow::Schema>& schema) {
  std::unordered_set<std::string> seen;
  for (const auto& f : schema->fields()) {
    if (!seen.insert(f->name()).second)
      return Error(Code::ARCT_ERR_INVALID_SCHEMA, "duplicate field name '" + f->name() + "'");
  }
  int base_count = 0;
  for (const auto& f : schema->fields()) base_count += IsBaseName(f->name()) ? 1 : 0;
  if (base_count == 0) {
    arrow::FieldVector fields = BaseFields();
    for (const auto& f : schema->fields()) fields.push_back(f);
    return arrow::schema(std::move(fields), schema->metadata());
  }
  const auto& base = BaseFields();
  for (int i = 0; i < kBaseColumns; ++i) {
    if (i >= schema->num_fields())
      return Error(Code::ARCT_ERR_INVALID_SCHEMA, std::string("base column '") + kBaseNames[i] + "' is missing");
    const auto& f = schema->field(i);
    if (f->name() != base[i]->name())
      return Error(Code::ARCT_ERR_INVALID_SCHEMA, "field " + std::to_string(i) + " must be base column '" +
                                                      base[i]->name() + "', got '" + f->name() + "'");
    if (!f->type()->Equals(*base[i]->type()))
      return Error(Code::ARCT_ERR_INVALID_SCHEMA, "base column '" + f->name() + "' must be " +
                                                      base[i]->type()->ToString() + ", got " + f->type()->ToString());
    if (f->nullable())
      return Error(Code::ARCT_ERR_INVALID_SCHEMA, "base column '" + f->name() + "' must be non-nullable");
  }
  for (int i = kBaseColumns; i < schema->num_fields(); ++i) {
    if (IsBaseName(schema->field(i)->name()))
      return Error(Code::ARCT_ERR_INVALID_SCHEMA, "base column '" + schema->field(i)->name() + "' is misordered");
  }
  return schema;
}

bool SchemasEqual(const arrow::Schema& a, const arrow::Schema& b) { return a.Equals(b, /*check_metadata=*/false); }

Result<std::shared_ptr<arrow::RecordBatch>> ConformComponentBatch(const arrow::Schema& table_schema,
                                                                   const arrow::RecordBatch& batch,
                                                                   const std::string& table) {
  // Order (both kernels): names first (base or duplicate → 156, missing → 154, unknown → 156),
  // then types (155), then nulls (157).
  const auto& in_schema = *batch.schema();
  std::unordered_set<std::string> names;
  for (const auto& f : in_schema.fields()) {
    if (IsBaseName(f->name()))
      return Error(Code::ARCT_ERR_UNEXPECTED_COLUMN,
                   "input batch has base column '" + f->name() + "'; only the kernel writes base columns");
  }
  for (const auto& f : in_schema.fields()) {
    if (!names.insert(f->name()).second)
      return Error(Code::ARCT_ERR_UNEXPECTED_COLUMN, "column '" + f->name() + "' appears twice in the batch");
  }
  for (int i = kBaseColumns; i < table_schema.num_fields(); ++i) {
    if (!names.count(table_schema.field(i)->name()))
      return Error(Code::ARCT_ERR_MISSING_COLUMN,
                   "input batch lacks column '" + table_schema.field(i)->name() + "' of table " + table);
  }
  for (const auto& f : in_schema.fields()) {
    if (table_schema.GetFieldIndex(f->name()) < 0)
      return Error(Code::ARCT_ERR_UNEXPECTED_COLUMN,
                   "input batch has column '" + f->name() + "', which table " + table + " does not have");
  }
  arrow::FieldVector fields;
  arrow::ArrayVector columns;
  for (int i = kBaseColumns; i < table_schema.num_fields(); ++i) {
    const auto& field = table_schema.field(i);
    const auto& col = batch.column(in_schema.GetFieldIndex(field->name()));
    if (!col->type()->Equals(*field->type())) {
      return Error(Code::ARCT_ERR_COLUMN_TYPE, "column '" + field->name() + "' of table " + table + " must be " +
                                                   field->type()->ToString() + ", got " + col->type()->ToString());
    }
    fields.push_back(field);
    columns.push_back(col);
  }
  for (std::size_t k = 0; k < fields.size(); ++k) {
    const auto& col = columns[k];
    if (!fields[k]->nullable() && col->null_count() > 0) {
      int64_t row = 0;
      while (row < col->length() && col->IsValid(row)) ++row;
      return Error(Code::ARCT_ERR_NULL_VALUE, "column '" + fields[k]->name() + "' of table " + table +
                                                  " is non-nullable but has a null in row " + std::to_string(row));
    }
  }
  return arrow::RecordBatch::Make(arrow::schema(std::move(fields)), batch.num_rows(), std::move(columns));
}

namespace {

/// True if two arrays view the very same memory: the fast path of the base-column check, which
/// also holds after a round trip through the C Data Interface (new Buffer objects, same bytes).
bool SameMemory(const arrow::ArrayData& a, const arrow::ArrayData& b) {
  if (a.length != b.length || a.offset != b.offset || a.buffers.size() != b.buffers.size()) return false;
  for (std::size_t k = 0; k < a.buffers.size(); ++k) {
    const auto& x = a.buffers[k];
    const auto& y = b.buffers[k];
    if (!x || !y) {
      if (x || y) return false;
      continue;
    }
    if (x->address() != y->address() || x->size() != y->size()) return false;
  }
  return true;
}

}  // namespace

Result<std::shared_ptr<arrow::RecordBatch>> CheckProcessedBatch(const std::shared_ptr<arrow::Schema>& table_schema,
                                                                const arrow::RecordBatch& input,
                                                                const arrow::RecordBatch& output,
                                                                const std::string& processor) {
  if (!SchemasEqual(*table_schema, *output.schema())) {
    return Error(Code::ARCT_ERR_SCHEMA_MISMATCH, "processor " + processor +
                                                     " returned a batch whose schema differs from the table schema: " +
                                                     output.schema()->ToString());
  }
  if (output.num_rows() != input.num_rows()) {
    return Error(Code::ARCT_ERR_ROW_COUNT_CHANGED, "processor " + processor + " returned " +
                                                       std::to_string(output.num_rows()) + " rows for " +
                                                       std::to_string(input.num_rows()) + " input rows");
  }
  arrow::ArrayVector columns = output.columns();
  for (int i = 0; i < output.num_columns(); ++i) {
    const auto& a = input.column(i);
    const auto& b = output.column(i);
    if (a.get() == b.get() || SameMemory(*a->data(), *b->data())) {
      // A column the processor passed through comes back as an import of an export of our own
      // array. Keep our array: otherwise every tick wraps the previous wrapper, and the chain
      // (one layer per tick) makes releasing a long history recurse once per tick.
      columns[static_cast<std::size_t>(i)] = a;
      continue;
    }
    if (i < kBaseColumns && !a->Equals(*b)) {
      return Error(Code::ARCT_ERR_METADATA_COLUMN,
                   "processor " + processor + " changed base column '" + std::string(kBaseNames[i]) + "'");
    }
  }
  return arrow::RecordBatch::Make(table_schema, output.num_rows(), std::move(columns));
}

Result<std::shared_ptr<arrow::RecordBatch>> EmptyBatch(const std::shared_ptr<arrow::Schema>& schema) {
  auto res = arrow::RecordBatch::MakeEmpty(schema);
  if (!res.ok()) return Error(Code::ARCT_ERR_OUT_OF_MEMORY, res.status().message());
  return *res;
}

}  // namespace kiln::world
