#include "kiln/python/arrow_capsule.h"

#include <arrow/c/abi.h>
#include <arrow/c/bridge.h>
#include <arrow/record_batch.h>
#include <arrow/table.h>

#include "kiln/core/error_codes.h"
#include "kiln/python/errors.h"

namespace kiln::python {
namespace {

using core::errors::Code;

[[noreturn]] void Fail(const std::string& message) {
  throw NativeError(core::Status(static_cast<std::int32_t>(Code::ARCT_ERR_ARROW), message));
}

template <class T>
T* CapsulePointer(nb::handle capsule, const char* name) {
  void* p = PyCapsule_GetPointer(capsule.ptr(), name);
  if (!p) {
    PyErr_Clear();
    Fail(std::string("expected a PyCapsule named '") + name + "'");
  }
  return static_cast<T*>(p);
}

void ReleaseSchemaCapsule(void* p) noexcept {
  auto* s = static_cast<ArrowSchema*>(p);
  if (s->release) s->release(s);
  delete s;
}
void ReleaseArrayCapsule(void* p) noexcept {
  auto* a = static_cast<ArrowArray*>(p);
  if (a->release) a->release(a);
  delete a;
}
void ReleaseStreamCapsule(void* p) noexcept {
  auto* s = static_cast<ArrowArrayStream*>(p);
  if (s->release) s->release(s);
  delete s;
}

}  // namespace

std::shared_ptr<arrow::RecordBatch> ImportBatch(nb::handle obj) {
  if (nb::hasattr(obj, "__arrow_c_array__")) {
    nb::object pair = obj.attr("__arrow_c_array__")();
    nb::tuple t = nb::cast<nb::tuple>(pair);
    if (t.size() != 2) Fail("__arrow_c_array__ must return (schema_capsule, array_capsule)");
    auto* schema = CapsulePointer<ArrowSchema>(t[0], "arrow_schema");
    auto* array = CapsulePointer<ArrowArray>(t[1], "arrow_array");
    if (!array->release || !schema->release) Fail("the Arrow C data was already released");
    auto r = arrow::ImportRecordBatch(array, schema);
    if (!r.ok()) Fail("cannot import a record batch (a batch crosses as a top-level struct array without nulls): " +
                      r.status().message());
    return *r;
  }
  if (nb::hasattr(obj, "__arrow_c_stream__")) {
    nb::object cap = obj.attr("__arrow_c_stream__")();
    auto* stream = CapsulePointer<ArrowArrayStream>(cap, "arrow_array_stream");
    auto reader = arrow::ImportRecordBatchReader(stream);
    if (!reader.ok()) Fail("cannot import an Arrow stream: " + reader.status().message());
    auto table = (*reader)->ToTable();
    if (!table.ok()) Fail("cannot read an Arrow stream: " + table.status().message());
    auto batch = (*table)->CombineChunksToBatch();
    if (!batch.ok()) Fail("cannot combine an Arrow stream: " + batch.status().message());
    return *batch;
  }
  Fail(std::string("expected an Arrow record batch (an object with __arrow_c_array__ or __arrow_c_stream__), got ") +
       nb::type_name(obj.type()).c_str());
}

std::shared_ptr<arrow::Schema> ImportSchema(nb::handle obj) {
  if (!nb::hasattr(obj, "__arrow_c_schema__"))
    Fail(std::string("expected an Arrow schema (an object with __arrow_c_schema__), got ") +
         nb::type_name(obj.type()).c_str());
  nb::object cap = obj.attr("__arrow_c_schema__")();
  auto* schema = CapsulePointer<ArrowSchema>(cap, "arrow_schema");
  auto r = arrow::ImportSchema(schema);
  if (!r.ok()) Fail("cannot import a schema: " + r.status().message());
  return *r;
}

nb::tuple ExportBatch(const std::shared_ptr<arrow::RecordBatch>& batch) {
  auto* schema = new ArrowSchema{};
  auto* array = new ArrowArray{};
  arrow::Status st = arrow::ExportRecordBatch(*batch, array, schema);
  if (!st.ok()) {
    delete schema;
    delete array;
    Fail("cannot export a record batch: " + st.message());
  }
  nb::capsule sc(schema, "arrow_schema", &ReleaseSchemaCapsule);
  nb::capsule ac(array, "arrow_array", &ReleaseArrayCapsule);
  return nb::make_tuple(sc, ac);
}

nb::object ExportSchema(const std::shared_ptr<arrow::Schema>& schema) {
  auto* c = new ArrowSchema{};
  arrow::Status st = arrow::ExportSchema(*schema, c);
  if (!st.ok()) {
    delete c;
    Fail("cannot export a schema: " + st.message());
  }
  return nb::capsule(c, "arrow_schema", &ReleaseSchemaCapsule);
}

nb::object ExportStream(const std::shared_ptr<arrow::Schema>& schema,
                        std::vector<std::shared_ptr<arrow::RecordBatch>> batches) {
  auto reader = arrow::RecordBatchReader::Make(std::move(batches), schema);
  if (!reader.ok()) Fail("cannot build a stream: " + reader.status().message());
  auto* s = new ArrowArrayStream{};
  arrow::Status st = arrow::ExportRecordBatchReader(*reader, s);
  if (!st.ok()) {
    delete s;
    Fail("cannot export a stream: " + st.message());
  }
  return nb::capsule(s, "arrow_array_stream", &ReleaseStreamCapsule);
}

}  // namespace kiln::python
