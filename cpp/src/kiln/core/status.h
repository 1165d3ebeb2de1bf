// Status and Result: the error currency of every Kiln C++ API.
//
// A Status carries a catalog code (errors/catalog.toml; 0 = success), a rendered message and
// optional key/value details (world_id, tick, table, ...) that the Python layer turns into the
// exception's `.details`. Success is a null pointer, so passing OK around costs nothing.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace kiln::core {

class Status {
 public:
  using Details = std::vector<std::pair<std::string, std::string>>;

  Status() = default;
  Status(std::int32_t code, std::string message)
      : state_(code == 0 ? nullptr : std::make_shared<State>(State{code, std::move(message), {}})) {}

  static Status OK() { return Status(); }

  bool ok() const { return state_ == nullptr; }
  std::int32_t code() const { return state_ ? state_->code : 0; }
  const std::string& message() const {
    static const std::string kEmpty;
    return state_ ? state_->message : kEmpty;
  }
  const Details& details() const {
    static const Details kNone;
    return state_ ? state_->details : kNone;
  }
  std::optional<std::string> detail(std::string_view key) const {
    for (const auto& [k, v] : details())
      if (k == key) return v;
    return std::nullopt;
  }

  /// Adds (or replaces) a detail; a no-op on OK. Copy-on-write: statuses are shared cheaply.
  Status& with_detail(std::string key, std::string value) {
    if (!state_) return *this;
    if (state_.use_count() > 1) state_ = std::make_shared<State>(*state_);
    for (auto& [k, v] : state_->details) {
      if (k == key) {
        v = std::move(value);
        return *this;
      }
    }
    state_->details.emplace_back(std::move(key), std::move(value));
    return *this;
  }
  Status& with_detail(std::string key, std::int64_t value) { return with_detail(std::move(key), std::to_string(value)); }

  /// Appends text to the message (used to add world context to a lower-level error).
  Status& append_message(std::string_view text) {
    if (!state_) return *this;
    if (state_.use_count() > 1) state_ = std::make_shared<State>(*state_);
    state_->message.append(text);
    return *this;
  }

  std::string ToString() const { return ok() ? "OK" : "code " + std::to_string(code()) + ": " + message(); }

 private:
  struct State {
    std::int32_t code;
    std::string message;
    Details details;
  };
  std::shared_ptr<State> state_;
};

/// A value or an error Status.
template <class T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design, like arrow::Result
  Result(Status status) : v_(std::move(status)) {}  // NOLINT
  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& operator*() & { return std::get<T>(v_); }
  T&& operator*() && { return std::get<T>(std::move(v_)); }
  const T& operator*() const& { return std::get<T>(v_); }
  T* operator->() { return &std::get<T>(v_); }
  const T* operator->() const { return &std::get<T>(v_); }
  T ValueOrDie() && { return std::get<T>(std::move(v_)); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace kiln::core

#define KILN_CONCAT_INNER(a, b) a##b
#define KILN_CONCAT(a, b) KILN_CONCAT_INNER(a, b)

#define KILN_RETURN_NOT_OK(expr)                  \
  do {                                            \
    ::kiln::core::Status _kiln_st = (expr);       \
    if (!_kiln_st.ok()) return _kiln_st;          \
  } while (0)

#define KILN_ASSIGN_OR_RETURN_IMPL(tmp, lhs, rexpr) \
  auto tmp = (rexpr);                               \
  if (!tmp.ok()) return tmp.status();               \
  lhs = std::move(*tmp)

#define KILN_ASSIGN_OR_RETURN(lhs, rexpr) \
  KILN_ASSIGN_OR_RETURN_IMPL(KILN_CONCAT(_kiln_res_, __LINE__), lhs, rexpr)
