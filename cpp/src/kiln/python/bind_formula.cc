// kiln._kiln.FormulaBase: the native compiled formula behind kiln.formula.Formula.
//
// Scalar calls stay in C++ from argument parsing to the result (no Python frame in between), so
// f(x, y) costs one dispatch; column evaluation receives resolved float64 buffers from
// kiln/formula/_columns.py and releases the GIL while the VM runs.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/vector.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "kiln/core/buffer_cache.h"
#include "kiln/core/error_codes.h"
#include "kiln/core/program/exact_sum.h"
#include "kiln/formula/expression.h"
#include "kiln/formula/functions.h"
#include "kiln/python/errors.h"

namespace nb = nanobind;

namespace kiln::python {
namespace {

namespace errors = kiln::core::errors;
using formula::Expression;
using F64Array = nb::ndarray<const double, nb::ndim<1>, nb::c_contig, nb::device::cpu>;
using I64Array = nb::ndarray<const std::int64_t, nb::ndim<1>, nb::c_contig, nb::device::cpu>;
using OutArray = nb::ndarray<double, nb::ndim<1>, nb::c_contig, nb::device::cpu>;

PyObject* RealType() {
  static PyObject* real = [] {
    nb::object numbers = nb::module_::import_("numbers");
    nb::object real_cls = numbers.attr("Real");
    return real_cls.release().ptr();
  }();
  return real;
}

std::string TypeName(PyObject* o) { return Py_TYPE(o)->tp_name; }

// float(x) for the scalar types of A.3.4; errors name the variable.
double ToDouble(PyObject* o, const std::string& name) {
  if (PyFloat_CheckExact(o)) return PyFloat_AS_DOUBLE(o);
  if (PyLong_Check(o)) {
    double v = PyLong_AsDouble(o);
    if (v == -1.0 && PyErr_Occurred()) {
      PyErr_Clear();
      nb::str r = nb::repr(nb::handle(o));
      std::string s = r.c_str();
      if (s.size() > 40) s = s.substr(0, 37) + "...";
      throw NativeError(errors::formula_value_out_of_range(name, s).with_detail("name", name));
    }
    return v;
  }
  if (PyFloat_Check(o)) return PyFloat_AS_DOUBLE(o);
  if (!PyUnicode_Check(o) && !PyBytes_Check(o) && PyObject_IsInstance(o, RealType()) == 1) {
    PyObject* f = PyNumber_Float(o);
    if (f != nullptr) {
      double v = PyFloat_AS_DOUBLE(f);
      Py_DECREF(f);
      return v;
    }
    bool overflow = PyErr_ExceptionMatches(PyExc_OverflowError);
    PyErr_Clear();
    if (overflow) throw NativeError(errors::formula_value_out_of_range(name, nb::repr(nb::handle(o)).c_str()).with_detail("name", name));
  }
  PyErr_Clear();
  throw NativeError(errors::formula_variable_type(name, "a real number", TypeName(o)).with_detail("name", name));
}

// A list variable's value: list, tuple, 1-D numpy array or array('d') of reals.
void ToList(PyObject* o, const std::string& name, std::vector<double>* out) {
  out->clear();
  if (PyList_Check(o) || PyTuple_Check(o)) {
    Py_ssize_t n = PySequence_Fast_GET_SIZE(o);
    PyObject** items = PySequence_Fast_ITEMS(o);
    out->reserve(static_cast<std::size_t>(n));
    for (Py_ssize_t i = 0; i < n; ++i) {
      PyObject* e = items[i];
      if (PyFloat_CheckExact(e)) {
        out->push_back(PyFloat_AS_DOUBLE(e));
      } else if (PyList_Check(e) || PyTuple_Check(e) || PyUnicode_Check(e)) {
        throw NativeError(errors::formula_variable_type(name, "a list of real numbers", "a list containing " + TypeName(e))
                              .with_detail("name", name));
      } else {
        out->push_back(ToDouble(e, name));
      }
    }
    return;
  }
  if (PyObject_CheckBuffer(o) && !PyBytes_Check(o) && !PyByteArray_Check(o)) {
    nb::object np = nb::module_::import_("numpy");
    nb::object arr;
    try {
      arr = np.attr("asarray")(nb::handle(o));
    } catch (nb::python_error&) {
      arr = nb::object();
    }
    if (arr.is_valid()) {
      nb::object kind = arr.attr("dtype").attr("kind");
      std::string k = nb::cast<std::string>(kind);
      int ndim = nb::cast<int>(arr.attr("ndim"));
      if (ndim == 1 && (k == "f" || k == "i" || k == "u" || k == "b")) {
        nb::object f = np.attr("ascontiguousarray")(arr, "float64");
        auto view = nb::cast<F64Array>(f);
        out->assign(view.data(), view.data() + view.shape(0));
        return;
      }
    }
  }
  throw NativeError(errors::formula_variable_type(name, "a list of real numbers", TypeName(o)).with_detail("name", name));
}

struct FormulaBase {
  Expression expr;
  std::vector<std::string> names;  // variables() order
  std::vector<nb::object> keys;    // the same names as Python str (hash cached): keyword lookups
};

std::string ModeName(formula::Mode m) { return m == formula::Mode::strict ? "strict" : "ieee"; }

void Init(FormulaBase* self, const std::string& text, const std::string& mode, bool fold,
          std::tuple<std::uint32_t, std::uint32_t, std::uint32_t, std::uint32_t, std::uint32_t> limits,
          const std::vector<std::pair<std::string, double>>& constants) {
  formula::CompileOptions o;
  if (mode == "ieee") {
    o.mode = formula::Mode::ieee;
  } else if (mode == "strict") {
    o.mode = formula::Mode::strict;
  } else {
    throw NativeError(errors::formula_invalid_option("mode", "must be \"ieee\" or \"strict\", got \"" + mode + "\""));
  }
  o.fold = fold;
  o.limits.max_length = std::get<0>(limits);
  o.limits.max_depth = std::get<1>(limits);
  o.limits.max_nodes = std::get<2>(limits);
  o.limits.max_args = std::get<3>(limits);
  o.limits.max_name_bytes = std::get<4>(limits);
  o.constants = constants;
  o.code_point_positions = true;
  auto r = Expression::compile(text, o);
  if (!r.ok()) throw NativeError(r.status());
  new (self) FormulaBase{std::move(*r), {}, {}};
  for (const auto& v : self->expr.variables()) {
    self->names.push_back(v.name);
    self->keys.push_back(nb::str(v.name.c_str(), v.name.size()));
  }
}

double Evaluate(const FormulaBase& f, PyObject* const* values, std::vector<std::string>* missing) {
  const auto vars = f.expr.variables();
  const auto& prog = f.expr.program();
  double scalars_small[16];
  std::vector<double> scalars_big;
  double* scalars = scalars_small;
  if (prog.n_vars > 16) {
    scalars_big.resize(prog.n_vars);
    scalars = scalars_big.data();
  }
  std::vector<std::vector<double>> list_data(prog.n_lists);
  std::vector<formula::ListView> lists(prog.n_lists);
  for (std::size_t i = 0; i < vars.size(); ++i) {
    if (values[i] == nullptr) {
      missing->push_back(vars[i].name);
      continue;
    }
    if (vars[i].is_list) {
      ToList(values[i], vars[i].name, &list_data[vars[i].slot]);
      lists[vars[i].slot] = formula::ListView{list_data[vars[i].slot].data(), list_data[vars[i].slot].size()};
    } else {
      if (PyList_Check(values[i]) || PyTuple_Check(values[i]))
        throw NativeError(errors::formula_variable_type(vars[i].name, "a real number", "a list (it is used as a scalar)")
                              .with_detail("name", vars[i].name));
      scalars[vars[i].slot] = ToDouble(values[i], vars[i].name);
    }
  }
  if (!missing->empty()) return 0.0;
  if (prog.n_lists == 0 && f.expr.mode() == formula::Mode::ieee) return f.expr.evaluate_ieee(scalars);
  auto r = f.expr.evaluate(std::span<const double>(scalars, prog.n_vars), lists);
  if (!r.ok()) throw NativeError(r.status());
  return *r;
}

[[noreturn]] void RaiseMissing(const FormulaBase& f, const std::vector<std::string>& missing,
                               const std::vector<std::string>& supplied) {
  std::string names, suggestion;
  std::vector<std::string_view> cands(supplied.begin(), supplied.end());
  for (std::size_t i = 0; i < missing.size(); ++i) {
    if (i) names += ", ";
    names += missing[i];
    std::vector<std::string_view> others;
    for (auto c : cands)
      if (!f.expr.slot(c)) others.push_back(c);
    if (auto near = formula::nearest(missing[i], others, 2)) {
      suggestion += suggestion.empty() ? " (did you mean " : "; ";
      suggestion += *near + " for " + missing[i];
    }
  }
  if (!suggestion.empty()) suggestion += "?)";
  core::Status st = errors::formula_missing_variables(static_cast<std::int64_t>(missing.size()), names, suggestion);
  st.with_detail("names", names);
  throw NativeError(st);
}

double Call(const FormulaBase& f, PyObject* args) {
  const std::size_t n = f.names.size();
  const auto given = static_cast<std::size_t>(PyTuple_GET_SIZE(args));
  if (given != n) {
    if (given < n) {
      std::vector<std::string> missing(f.names.begin() + static_cast<std::ptrdiff_t>(given), f.names.end());
      RaiseMissing(f, missing, {});
    }
    throw NativeError(errors::core_invalid_argument("the formula takes " + std::to_string(n) +
                                                     " positional value(s) (its variables), got " +
                                                     std::to_string(given)));
  }
  std::vector<std::string> missing;
  // The tuple's item array is the values array Evaluate reads: no copy.
  return Evaluate(f, reinterpret_cast<PyTupleObject*>(args)->ob_item, &missing);
}

// The FormulaBase behind `self` in a raw CPython entry point (no nanobind dispatch checked it).
const FormulaBase& SelfOf(PyObject* self) {
  if (!nb::inst_ready(self))
    throw NativeError(errors::core_invalid_argument("the formula was not initialised (Formula.__init__ did not run)"));
  return *nb::inst_ptr<FormulaBase>(self);
}

// `formula(*values)` enters here straight from CPython's tp_call slot (inherited as is by the
// Python subclass kiln.formula.Formula). A nanobind "__call__" method would be reached through
// slot_tp_call, a second argument tuple and the overload dispatcher: ~40 ns of a ~100 ns call.
PyObject* CallSlot(PyObject* self, PyObject* args, PyObject* kwargs) noexcept {
  try {
    const FormulaBase& f = SelfOf(self);
    if (kwargs != nullptr && PyDict_GET_SIZE(kwargs) != 0)
      throw NativeError(errors::core_invalid_argument(
          "calling a formula takes its values by position, in `variables` order; use evaluate(**values) for names"));
    return PyFloat_FromDouble(Call(f, args));
  } catch (...) {
    SetPythonErrorFromCurrentException();
    return nullptr;
  }
}

PyType_Slot kFormulaSlots[] = {{Py_tp_call, reinterpret_cast<void*>(CallSlot)}, {0, nullptr}};

// Values by name: a keyword value first, else `mapping` (a dict or any mapping; Py_None for none).
double EvaluateNamed(const FormulaBase& f, PyObject* mapping, PyObject* kwargs) {
  const std::size_t n = f.names.size();
  PyObject* small[16];
  std::vector<PyObject*> big;
  PyObject** vals = small;
  if (n > 16) {
    big.resize(n);
    vals = big.data();
  }
  std::vector<nb::object> keep;
  for (std::size_t i = 0; i < n; ++i) {
    PyObject* key = f.keys[i].ptr();
    PyObject* v = kwargs != nullptr ? PyDict_GetItem(kwargs, key) : nullptr;
    if (v == nullptr && mapping != Py_None) {
      if (PyDict_Check(mapping)) {
        v = PyDict_GetItem(mapping, key);
      } else {
        PyObject* got = PyObject_GetItem(mapping, key);
        if (got == nullptr) {
          if (!PyErr_ExceptionMatches(PyExc_KeyError)) throw nb::python_error();
          PyErr_Clear();
        } else {
          keep.push_back(nb::steal(got));
          v = got;
        }
      }
    }
    vals[i] = v;
  }
  std::vector<std::string> missing;
  double r = Evaluate(f, vals, &missing);
  if (!missing.empty()) {
    std::vector<std::string> supplied;
    if (kwargs != nullptr)
      for (auto [k, _] : nb::borrow<nb::dict>(kwargs)) supplied.push_back(nb::cast<std::string>(k));
    if (mapping != Py_None) {
      try {
        for (nb::handle k : nb::borrow<nb::object>(mapping))
          if (nb::isinstance<nb::str>(k)) supplied.push_back(nb::cast<std::string>(k));
      } catch (nb::python_error&) {
      }
    }
    RaiseMissing(f, missing, supplied);
  }
  return r;
}

// Formula.evaluate(mapping=None, /, **values) as a raw CPython method (installed on FormulaBase
// by PyDescr_NewMethod): nanobind's *args/**kwargs dispatch was most of a ~500 ns call.
PyObject* EvaluateMethod(PyObject* self, PyObject* args, PyObject* kwargs) noexcept {
  try {
    const FormulaBase& f = SelfOf(self);
    if (PyTuple_GET_SIZE(args) > 1)
      throw NativeError(errors::core_invalid_argument("evaluate() takes at most one positional mapping"));
    PyObject* mapping = PyTuple_GET_SIZE(args) == 1 ? PyTuple_GET_ITEM(args, 0) : Py_None;
    return PyFloat_FromDouble(EvaluateNamed(f, mapping, kwargs));
  } catch (...) {
    SetPythonErrorFromCurrentException();
    return nullptr;
  }
}

// Column evaluation over resolved inputs: for each variable (variables() order) either a float64
// array, a float scalar, or a (offsets int64, values float64) list column.
using U8Array = nb::ndarray<const std::uint8_t, nb::ndim<1>, nb::c_contig, nb::device::cpu>;

void EvaluateColumns(const FormulaBase& f, nb::list inputs, std::size_t rows, OutArray out, int threads,
                     std::optional<U8Array> valid) {
  const auto vars = f.expr.variables();
  const auto& prog = f.expr.program();
  std::vector<formula::ColumnRef> cols(prog.n_vars);
  std::vector<formula::ListColumnRef> lists(prog.n_lists);
  std::vector<nb::object> keep;
  if (inputs.size() != vars.size()) throw NativeError(errors::core_invalid_argument("evaluate_columns: one input per variable"));
  for (std::size_t i = 0; i < vars.size(); ++i) {
    nb::handle h = inputs[i];
    if (vars[i].is_list) {
      auto t = nb::cast<nb::tuple>(h);
      auto off = nb::cast<I64Array>(t[0]);
      auto val = nb::cast<F64Array>(t[1]);
      if (off.shape(0) != rows + 1) throw NativeError(errors::core_invalid_argument("list offsets length"));
      lists[vars[i].slot] = formula::ListColumnRef{off.data(), val.data()};
      keep.push_back(nb::borrow<nb::object>(h));
    } else if (PyFloat_Check(h.ptr())) {
      cols[vars[i].slot] = formula::ColumnRef{nullptr, PyFloat_AS_DOUBLE(h.ptr())};
    } else {
      auto a = nb::cast<F64Array>(h);
      if (a.shape(0) != rows) throw NativeError(errors::core_invalid_argument("column length"));
      cols[vars[i].slot] = formula::ColumnRef{a.data(), 0.0};
    }
  }
  if (out.shape(0) != rows) throw NativeError(errors::core_invalid_argument("out length"));
  formula::BatchInput in{cols, lists, rows, valid ? valid->data() : nullptr};
  formula::BatchOptions bo;
  bo.threads = threads < 1 ? 1 : threads;
  // KeyboardInterrupt is honoured between tasks: the worker polls for pending signals with the GIL.
  bo.cancelled = [](void*) -> bool {
    nb::gil_scoped_acquire g;
    return PyErr_CheckSignals() != 0;
  };
  core::Status st;
  {
    nb::gil_scoped_release release;
    st = f.expr.evaluate_batch(in, std::span<double>(out.data(), rows), bo);
  }
  if (!st.ok()) {
    if (st.code() == static_cast<std::int32_t>(errors::Code::CORE_CANCELLED)) throw nb::python_error();
    throw NativeError(st);
  }
}

// kf.evaluate(text, mapping=None, /, **values) without a Python frame: the text-keyed dict of the
// compile cache is probed here; a miss calls back into kiln.formula.compile, which fills it.
nb::object g_fast_cache;
nb::object g_compile;

PyObject* EvaluateCached(PyObject*, PyObject* args, PyObject* kwargs) noexcept {
  try {
    const Py_ssize_t given = PyTuple_GET_SIZE(args);
    if (given < 1 || given > 2)
      throw NativeError(errors::core_invalid_argument("evaluate(text, mapping=None, /, **values)"));
    PyObject* text = PyTuple_GET_ITEM(args, 0);
    PyObject* f = nullptr;
    nb::object compiled;
    if (g_fast_cache.is_valid() && PyUnicode_CheckExact(text)) f = PyDict_GetItem(g_fast_cache.ptr(), text);
    if (f == nullptr) {
      compiled = g_compile(nb::handle(text));
      f = compiled.ptr();
    }
    const FormulaBase& base = nb::cast<const FormulaBase&>(nb::handle(f));
    return PyFloat_FromDouble(EvaluateNamed(base, given == 2 ? PyTuple_GET_ITEM(args, 1) : Py_None, kwargs));
  } catch (...) {
    SetPythonErrorFromCurrentException();
    return nullptr;
  }
}

PyMethodDef kEvaluateMethodDef = {"evaluate", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(EvaluateMethod)),
                                  METH_VARARGS | METH_KEYWORDS, "evaluate(mapping=None, /, **values) -> float"};
PyMethodDef kEvaluateCachedDef = {"_formula_evaluate",
                                  reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(EvaluateCached)),
                                  METH_VARARGS | METH_KEYWORDS, "evaluate(text, mapping=None, /, **values) -> float"};

nb::bytes ProgramItems(const FormulaBase& f) {
  const auto& items = f.expr.program().items;
  return nb::bytes(reinterpret_cast<const char*>(items.data()), items.size() * sizeof(items[0]));
}
nb::bytes ProgramPool(const FormulaBase& f) {
  const auto& pool = f.expr.program().pool;
  return nb::bytes(reinterpret_cast<const char*>(pool.data()), pool.size() * sizeof(double));
}

// A float64 output column from the column pool (kiln::core::ColumnPool): freed, its buffer goes
// back to the pool's cache with its pages resident. An output from numpy's allocator is returned to
// the OS soon after it is freed (glibc trims the heap top past 2x its mmap threshold), so every
// RuleSet.apply on 10^6 rows paid ~5 ms of first-touch page faults per column.
using PooledArray = nb::ndarray<nb::numpy, double, nb::ndim<1>, nb::c_contig>;

PooledArray PooledF64(std::size_t rows) {
  struct Block {
    std::uint8_t* data = nullptr;
    std::int64_t bytes = 0;
  };
  constexpr std::int64_t kAlignment = 64;
  auto* block = new Block{nullptr, static_cast<std::int64_t>(std::max<std::size_t>(rows, 1) * sizeof(double))};
  arrow::Status st = core::ColumnPool()->Allocate(block->bytes, kAlignment, &block->data);
  if (!st.ok()) {
    delete block;
    throw std::bad_alloc();
  }
  nb::capsule owner(block, [](void* p) noexcept {
    auto* b = static_cast<Block*>(p);
    core::ColumnPool()->Free(b->data, b->bytes, kAlignment);
    delete b;
  });
  return PooledArray(reinterpret_cast<double*>(block->data), {rows}, owner);
}

}  // namespace

void BindFormula(nb::module_& m) {
  auto cls = nb::class_<FormulaBase>(m, "FormulaBase", nb::dynamic_attr(), nb::type_slots(kFormulaSlots));
  cls
      .def("__init__", &Init, nb::arg("text"), nb::arg("mode") = "ieee", nb::arg("fold") = true,
           nb::arg("limits") = std::make_tuple(65536u, 256u, 10000u, 255u, 255u),
           nb::arg("constants") = std::vector<std::pair<std::string, double>>{})
      .def("_evaluate_columns", &EvaluateColumns, nb::arg("inputs"), nb::arg("rows"), nb::arg("out"), nb::arg("threads"),
           nb::arg("valid").none() = nb::none())
      .def_prop_ro("text", [](const FormulaBase& f) { return std::string(f.expr.text()); })
      .def_prop_ro("mode", [](const FormulaBase& f) { return ModeName(f.expr.mode()); })
      .def_prop_ro("variables", [](const FormulaBase& f) {
        nb::list l;
        for (const auto& n : f.names) l.append(nb::str(n.c_str(), n.size()));
        return nb::tuple(l);
      })
      .def_prop_ro("list_variables", [](const FormulaBase& f) {
        nb::list l;
        for (const auto& v : f.expr.variables())
          if (v.is_list) l.append(nb::str(v.name.c_str(), v.name.size()));
        return nb::tuple(l);
      })
      .def_prop_ro("_variable_info", [](const FormulaBase& f) {
        nb::list l;
        for (const auto& v : f.expr.variables()) l.append(nb::make_tuple(v.name, v.is_list, v.first_position, v.slot));
        return l;
      })
      .def_prop_ro("functions", [](const FormulaBase& f) {
        nb::list l;
        for (const auto& n : f.expr.compiled().functions) l.append(nb::str(n.c_str(), n.size()));
        return nb::tuple(l);
      })
      .def_prop_ro("node_count", [](const FormulaBase& f) { return f.expr.compiled().node_count; })
      .def_prop_ro("depth", [](const FormulaBase& f) { return f.expr.compiled().depth; })
      .def_prop_ro("_items", &ProgramItems)
      .def_prop_ro("_pool", &ProgramPool)
      .def_prop_ro("_n_vars", [](const FormulaBase& f) { return f.expr.program().n_vars; })
      .def_prop_ro("_n_lists", [](const FormulaBase& f) { return f.expr.program().n_lists; })
      .def("disassemble", [](const FormulaBase& f) { return f.expr.disassemble(); });
  cls.attr("evaluate") = nb::steal(PyDescr_NewMethod(reinterpret_cast<PyTypeObject*>(cls.ptr()), &kEvaluateMethodDef));

  m.def("_formula_set_cache", [](nb::object fast, nb::object compile) {
    g_fast_cache = std::move(fast);
    g_compile = std::move(compile);
  });
  m.def("_pooled_f64", &PooledF64, nb::arg("rows"), "An uninitialised float64 array from the column pool.");
  // The one-shot evaluate, raw like FormulaBase.evaluate (S2: the call overhead is the benchmark).
  m.attr("_formula_evaluate") = nb::steal(PyCFunction_NewEx(&kEvaluateCachedDef, nullptr, nullptr));
  // The module may be torn down before these statics: drop the references at interpreter exit.
  nb::module_::import_("atexit").attr("register")(nb::cpp_function([]() {
    g_fast_cache = nb::object();
    g_compile = nb::object();
  }));
  m.def("_fsum", [](F64Array a) { return core::exact_sum(a.data(), a.shape(0)); });
  m.def("_exact_mean", [](F64Array a) {
    core::ExactSum s;
    for (std::size_t i = 0; i < a.shape(0); ++i) s.add(a.data()[i]);
    return a.shape(0) ? s.divided_by(a.shape(0)) : std::nan("");
  });
  m.def("_program_check", [](nb::bytes items, nb::bytes pool, std::uint32_t n_vars, std::uint32_t n_lists) {
    core::program::Program p;
    p.items.resize(items.size() / sizeof(core::program::Item));
    std::memcpy(p.items.data(), items.c_str(), p.items.size() * sizeof(core::program::Item));
    p.pool.resize(pool.size() / sizeof(double));
    std::memcpy(p.pool.data(), pool.c_str(), p.pool.size() * sizeof(double));
    p.n_vars = n_vars;
    p.n_lists = n_lists;
    ThrowIfError(p.check());
  });
}

}  // namespace kiln::python
