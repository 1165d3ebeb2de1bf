// Conversion of Arrow C++ failures into Kiln statuses.
#pragma once

#include <arrow/result.h>
#include <arrow/status.h>

#include <string>
#include <string_view>

#include "kiln/core/status.h"

namespace kiln::core {

/// Maps an Arrow status onto `code`, prefixing `context` to Arrow's message. Allocation failures
/// keep their own meaning: callers pass the out-of-memory code they use as `oom_code`.
inline Status FromArrow(const arrow::Status& st, std::int32_t code, std::string_view context,
                        std::int32_t oom_code) {
  if (st.ok()) return Status::OK();
  std::string msg(context);
  if (!msg.empty()) msg += ": ";
  msg += st.message();
  return Status(st.IsOutOfMemory() ? oom_code : code, std::move(msg));
}

}  // namespace kiln::core

/// Evaluates an arrow::Status expression; on failure returns a Kiln Status with `code`.
#define KILN_ARROW_RETURN(expr, code, context, oom_code)                                      \
  do {                                                                                        \
    ::arrow::Status _kiln_ast = (expr);                                                       \
    if (!_kiln_ast.ok()) return ::kiln::core::FromArrow(_kiln_ast, (code), (context), (oom_code)); \
  } while (0)

#define KILN_ARROW_ASSIGN_IMPL(tmp, lhs, rexpr, code, context, oom_code)                         \
  auto tmp = (rexpr);                                                                           \
  if (!tmp.ok()) return ::kiln::core::FromArrow(tmp.status(), (code), (context), (oom_code));   \
  lhs = std::move(tmp).ValueUnsafe()

#define KILN_ARROW_ASSIGN(lhs, rexpr, code, context, oom_code) \
  KILN_ARROW_ASSIGN_IMPL(KILN_CONCAT(_kiln_ares_, __LINE__), lhs, rexpr, code, context, oom_code)
