// Table schemas and batch contracts (specs/world.md §2.1, §3.4, §6.4).
#pragma once

#include <arrow/type_fwd.h>

#include <memory>
#include <string>

#include "kiln/world/codes.h"

namespace kiln::world {

inline constexpr int kBaseColumns = 5;
inline constexpr const char* kBaseNames[kBaseColumns] = {"world_id", "run_id", "entity_id", "tick", "is_active"};

bool IsBaseName(std::string_view name);

/// The five base fields, non-nullable, in order.
const arrow::FieldVector& BaseFields();

/// Accepts a full table schema (base fields first, exactly) or a component schema (no base names;
/// base fields are prepended). Anything else, or duplicate field names → 153.
Result<std::shared_ptr<arrow::Schema>> NormalizeTableSchema(const std::shared_ptr<arrow::Schema>& schema);

/// Schema equality as the world compares it: names, types (recursively, with child names and
/// nullability) and nullability, in order; metadata ignored.
bool SchemasEqual(const arrow::Schema& a, const arrow::Schema& b);

/// Validates a caller's component batch against a table schema and returns it with exactly the
/// table's component fields, in table order (specs/world.md §3.4): 154, 155, 157, 156.
Result<std::shared_ptr<arrow::RecordBatch>> ConformComponentBatch(const arrow::Schema& table_schema,
                                                                   const arrow::RecordBatch& batch,
                                                                   const std::string& table);

/// The processed-batch contract (§6.4): 300 schema, 302 row count, 301 base columns. On success
/// returns the output re-labelled with the registered schema object (metadata restored).
Result<std::shared_ptr<arrow::RecordBatch>> CheckProcessedBatch(const std::shared_ptr<arrow::Schema>& table_schema,
                                                                const arrow::RecordBatch& input,
                                                                const arrow::RecordBatch& output,
                                                                const std::string& processor);

/// An empty batch of `schema`.
Result<std::shared_ptr<arrow::RecordBatch>> EmptyBatch(const std::shared_ptr<arrow::Schema>& schema);

}  // namespace kiln::world
