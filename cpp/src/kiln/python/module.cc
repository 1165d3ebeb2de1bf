// The extension module kiln._kiln: one bind_<engine>.cc per engine registers its classes here.
#include <arrow/compute/initialize.h>
#include <arrow/config.h>
#include <arrow/util/config.h>
#include <nanobind/nanobind.h>

#include <string>

#include "kiln/python/errors.h"

namespace nb = nanobind;

namespace kiln::python {
void BindWorld(nb::module_& m);
void BindPopgen(nb::module_& m);
void BindFormula(nb::module_& m);
void BindStats(nb::module_& m);
void BindFormulaCompat(nb::module_& m);
}

NB_MODULE(_kiln, m) {
  // The Arrow C++ we were compiled against must be the one loaded (pyarrow's): a different minor
  // version would break the C++ ABI silently.
  const auto& info = arrow::GetBuildInfo();
  if (info.version_major != ARROW_VERSION_MAJOR || info.version_minor != ARROW_VERSION_MINOR) {
    throw nb::import_error(("kiln._kiln was built against Arrow C++ " + std::string(ARROW_VERSION_STRING) +
                            " but Arrow C++ " + info.version_string +
                            " is loaded; reinstall kiln against the installed pyarrow")
                               .c_str());
  }
  if (auto st = arrow::compute::Initialize(); !st.ok()) throw nb::import_error(st.ToString().c_str());
  m.attr("ARROW_VERSION") = ARROW_VERSION_STRING;
  kiln::python::RegisterErrorTranslator();
  kiln::python::BindWorld(m);
  kiln::python::BindPopgen(m);
  kiln::python::BindFormula(m);
  kiln::python::BindStats(m);
  kiln::python::BindFormulaCompat(m);
}
