// Native errors cross into Python as catalog exceptions built by kiln.errors.error_for.
#pragma once

#include <nanobind/nanobind.h>

#include <stdexcept>

#include "kiln/core/status.h"

namespace kiln::python {

/// Thrown by binding code for a failed Status; translated to the catalog class of its code.
class NativeError : public std::exception {
 public:
  explicit NativeError(core::Status st) : status_(std::move(st)) {}
  const char* what() const noexcept override { return status_.message().c_str(); }
  const core::Status& status() const { return status_; }

 private:
  core::Status status_;
};

inline void ThrowIfError(const core::Status& st) {
  if (!st.ok()) throw NativeError(st);
}

template <class T>
T ValueOrThrow(core::Result<T> r) {
  if (!r.ok()) throw NativeError(r.status());
  return std::move(*r);
}

void RegisterErrorTranslator();

/// For raw CPython slots (no nanobind dispatch around them): call inside a `catch (...)` block; sets
/// the Python error for the exception in flight, catalog class for NativeError.
void SetPythonErrorFromCurrentException() noexcept;

}  // namespace kiln::python
