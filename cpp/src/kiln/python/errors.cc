#include "kiln/python/errors.h"

#include <charconv>
#include <new>

namespace kiln::python {

namespace nb = nanobind;

namespace {

nb::object DetailValue(const std::string& v) {
  std::int64_t i = 0;
  auto res = std::from_chars(v.data(), v.data() + v.size(), i);
  if (!v.empty() && res.ec == std::errc() && res.ptr == v.data() + v.size()) return nb::int_(i);
  return nb::str(v.c_str(), v.size());
}

void SetPythonError(const core::Status& st) {
  try {
    nb::object error_for = nb::module_::import_("kiln.errors").attr("error_for");
    nb::dict details;
    nb::dict cause_details;
    for (const auto& [k, v] : st.details()) {
      // cause_* details describe the error that caused this one (a formula error inside a world
      // processor): it becomes the exception's __cause__ and `details["cause"]`.
      if (k.rfind("cause_", 0) == 0 && k != "cause_number" && k != "cause_message")
        cause_details[k.substr(6).c_str()] = DetailValue(v);
      else
        details[k.c_str()] = DetailValue(v);
    }
    if (details.contains("cause_number")) {
      nb::object number = details["cause_number"];
      nb::object message = details.contains("cause_message") ? nb::object(details["cause_message"]) : nb::str("");
      nb::object cause = error_for(number, message, **cause_details);
      nb::del(details["cause_number"]);
      if (details.contains("cause_message")) nb::del(details["cause_message"]);
      details["cause"] = cause;
    }
    nb::object exc = error_for(st.code(), nb::str(st.message().c_str(), st.message().size()), **details);
    PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(exc.ptr())), exc.ptr());
  } catch (nb::python_error& e) {
    e.restore();  // the catalog itself failed to load: surface that error
  }
}

}  // namespace

void RegisterErrorTranslator() {
  nb::register_exception_translator([](const std::exception_ptr& p, void*) {
    try {
      std::rethrow_exception(p);
    } catch (const NativeError& e) {
      SetPythonError(e.status());
    }
  });
}

void SetPythonErrorFromCurrentException() noexcept {
  try {
    throw;
  } catch (const NativeError& e) {
    SetPythonError(e.status());
  } catch (nb::python_error& e) {
    e.restore();
  } catch (const std::bad_alloc&) {
    PyErr_NoMemory();
  } catch (const std::exception& e) {
    PyErr_SetString(PyExc_RuntimeError, e.what());
  } catch (...) {
    PyErr_SetString(PyExc_RuntimeError, "unknown native exception");
  }
}

}  // namespace kiln::python
