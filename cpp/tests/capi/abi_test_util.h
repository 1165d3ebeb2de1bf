// Helpers for tests that drive the world through the C header only: Arrow C++ builds the
// batches and exports them as C Data structs; nothing of the kernel's C++ API is used.
#pragma once

#include <arrow/api.h>
#include <arrow/c/bridge.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "kiln/capi/arct.h"

namespace kiln::capi_test {

std::shared_ptr<arrow::Schema> PositionVelocity();
std::shared_ptr<arrow::RecordBatch> Batch(const std::vector<double>& x, const std::vector<double>& y,
                                          const std::vector<double>& dx, const std::vector<double>& dy);

/// An exported batch: the caller passes &c.array / &c.schema and the destructor releases leftovers.
struct CBatch {
  ArrowArray array{};
  ArrowSchema schema{};
  explicit CBatch(const std::shared_ptr<arrow::RecordBatch>& b);
  CBatch() = default;
  ~CBatch();
  CBatch(const CBatch&) = delete;
  CBatch& operator=(const CBatch&) = delete;
  bool moved() const { return array.release == nullptr && schema.release == nullptr; }
  std::shared_ptr<arrow::RecordBatch> Import();  // consumes an output shell
};

struct CSchema {
  ArrowSchema schema{};
  explicit CSchema(const std::shared_ptr<arrow::Schema>& s);
  ~CSchema();
};

/// A world through the ABI; asserts creation succeeded.
arct_world* NewWorld(const char* root = nullptr, const char* world_id = "w", const char* run_id = "r");
std::string LastError();
std::shared_ptr<arrow::Table> ReadAll(arct_world* w, const char* table, const arct_read_filter* filter = nullptr);

}  // namespace kiln::capi_test
