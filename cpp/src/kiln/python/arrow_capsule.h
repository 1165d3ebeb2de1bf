// Arrow data across the Python boundary through the PyCapsule interface: imports from any
// producer (pyarrow, polars, duckdb, nanoarrow) and exports capsules pyarrow consumes zero-copy.
// No libarrow_python is linked.
#pragma once

#include <arrow/type_fwd.h>
#include <nanobind/nanobind.h>

#include <memory>
#include <vector>

namespace kiln::python {

namespace nb = nanobind;

/// A record batch from an object with `__arrow_c_array__` (struct array) or `__arrow_c_stream__`
/// (all batches concatenated). Raises a catalog error (world code 1) otherwise.
std::shared_ptr<arrow::RecordBatch> ImportBatch(nb::handle obj);
std::shared_ptr<arrow::Schema> ImportSchema(nb::handle obj);

/// (schema capsule, array capsule) for a batch.
nb::tuple ExportBatch(const std::shared_ptr<arrow::RecordBatch>& batch);
nb::object ExportSchema(const std::shared_ptr<arrow::Schema>& schema);
/// A stream capsule over batches of `schema`.
nb::object ExportStream(const std::shared_ptr<arrow::Schema>& schema,
                        std::vector<std::shared_ptr<arrow::RecordBatch>> batches);

}  // namespace kiln::python
