// kiln._kiln entry points of kiln.formula.compat's native fast path (specs/formula.md A.5).
//
// compat_calculate does the source's substitution and evaluation in one call when that is exact:
// a str formula without "AVG(", a dict of str keys whose values are exactly float or an int64-range
// int, and a substituted text in the fast alphabet. It returns a float (the result), an int (the
// result is 0.0, logged under that K460x code) or None (the Python path must decide).
#include <nanobind/nanobind.h>
#include <nanobind/stl/string.h>

#include <climits>
#include <string>
#include <string_view>

#include "kiln/formula/compat_fastpath.h"

namespace nb = nanobind;

namespace kiln::python {
namespace {

namespace compat = kiln::formula::compat;

bool Utf8(PyObject* s, std::string_view& out) {
  Py_ssize_t n = 0;
  const char* p = PyUnicode_AsUTF8AndSize(s, &n);
  if (p == nullptr) {
    PyErr_Clear();  // lone surrogates: the Python path handles them
    return false;
  }
  out = std::string_view(p, static_cast<std::size_t>(n));
  return true;
}

// str.replace(pattern, replacement): every non-overlapping occurrence, left to right.
void ReplaceAll(std::string& text, std::string_view pattern, std::string_view replacement) {
  std::size_t at = text.find(pattern);
  if (at == std::string::npos) return;
  std::string out;
  out.reserve(text.size());
  std::size_t from = 0;
  while (at != std::string::npos) {
    out.append(text, from, at - from);
    out.append(replacement);
    from = at + pattern.size();
    at = text.find(pattern, from);
  }
  out.append(text, from, std::string::npos);
  text.swap(out);
}

nb::object Calculate(nb::handle formula, nb::handle variables) {
  if (!PyUnicode_CheckExact(formula.ptr())) return nb::none();
  std::string_view f;
  if (!Utf8(formula.ptr(), f) || f.find("AVG(") != std::string_view::npos) return nb::none();
  std::string text(f);
  if (!variables.is_none()) {
    if (!PyDict_CheckExact(variables.ptr())) return nb::none();
    PyObject *key, *value;
    Py_ssize_t pos = 0;
    std::string pattern, repl;
    while (PyDict_Next(variables.ptr(), &pos, &key, &value)) {
      std::string_view k;
      if (!PyUnicode_CheckExact(key) || !Utf8(key, k)) return nb::none();
      if (PyFloat_CheckExact(value)) {
        repl = compat::python_float_repr(PyFloat_AS_DOUBLE(value));
      } else if (PyLong_CheckExact(value)) {
        int overflow = 0;
        const long long v = PyLong_AsLongLongAndOverflow(value, &overflow);
        if (overflow != 0 || (v == -1 && PyErr_Occurred())) {
          PyErr_Clear();
          return nb::none();
        }
        repl = std::to_string(v);
      } else {
        return nb::none();
      }
      pattern.clear();
      pattern.push_back('{');
      pattern.append(k);
      pattern.push_back('}');
      ReplaceAll(text, pattern, repl);
    }
  }
  if (!compat::is_fast_alphabet(text)) return nb::none();
  const compat::FastResult r = compat::evaluate(text);
  switch (r.outcome) {
    case compat::Outcome::value: return nb::float_(r.value);
    case compat::Outcome::zero: return nb::int_(r.code);
    case compat::Outcome::defer: break;
  }
  return nb::none();
}

bool Accepts(nb::handle text) {
  std::string_view t;
  if (!PyUnicode_CheckExact(text.ptr()) || !Utf8(text.ptr(), t)) return false;
  return compat::is_fast_alphabet(t) && compat::accepts(t);
}

}  // namespace

void BindFormulaCompat(nb::module_& m) {
  m.def("compat_calculate", &Calculate, nb::arg("formula").none(), nb::arg("variables").none(),
        "Fast path of kiln.formula.compat.calculate_logic: float, int (0.0 with that log code) or None.");
  m.def("compat_accepts", &Accepts, nb::arg("text").none(),
        "True when the text is certainly a valid Python expression (fast alphabet only).");
  m.def("compat_float_repr", &compat::python_float_repr, nb::arg("value"), "Python's repr(float), natively.");
}

}  // namespace kiln::python
