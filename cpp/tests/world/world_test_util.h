// Helpers for world kernel tests: Position/Velocity tables and batches.
#pragma once

#include <arrow/api.h>

#include <memory>
#include <string>
#include <vector>

#include "kiln/world/world.h"

namespace kiln::world::testing {

std::shared_ptr<arrow::Schema> PositionVelocitySchema();
std::shared_ptr<arrow::Schema> PositionSchema();
std::shared_ptr<arrow::RecordBatch> PositionVelocityBatch(const std::vector<double>& x, const std::vector<double>& y,
                                                          const std::vector<double>& dx, const std::vector<double>& dy);
std::shared_ptr<arrow::RecordBatch> PositionBatch(const std::vector<double>& x);
std::unique_ptr<World> MemoryWorld();
/// All rows of `table` in the ledger, concatenated.
std::shared_ptr<arrow::RecordBatch> Ledger(World& w, const std::string& table, const ReadFilter& filter = {});
std::vector<double> Doubles(const std::shared_ptr<arrow::RecordBatch>& b, const std::string& column);
std::vector<std::int32_t> Ints(const std::shared_ptr<arrow::RecordBatch>& b, const std::string& column);
std::vector<bool> Bools(const std::shared_ptr<arrow::RecordBatch>& b, const std::string& column);

}  // namespace kiln::world::testing
