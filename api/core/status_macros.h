// File: status_macros.h
// RETURN_IF_ERROR / ASSIGN_OR_RETURN: our abseil (20220623) predates
// absl/status/status_macros.h.
#ifndef HISTORIAN_API_CORE_STATUS_MACROS_H_
#define HISTORIAN_API_CORE_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define HISTORIAN_CONCAT_INNER_(a, b) a##b
#define HISTORIAN_CONCAT_(a, b) HISTORIAN_CONCAT_INNER_(a, b)

// Returns from the enclosing function when `expr` is not OK.
#define RETURN_IF_ERROR(expr)                 \
  do {                                        \
    ::absl::Status _status = (expr);          \
    if (!_status.ok()) return _status;        \
  } while (0)

// ASSIGN_OR_RETURN(auto x, Foo()); declares/assigns x or returns the error.
#define ASSIGN_OR_RETURN(lhs, rexpr) \
  ASSIGN_OR_RETURN_IMPL_(HISTORIAN_CONCAT_(_statusor_, __LINE__), lhs, rexpr)
#define ASSIGN_OR_RETURN_IMPL_(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                           \
  if (!statusor.ok()) return statusor.status();      \
  lhs = std::move(statusor).value()

#endif  // HISTORIAN_API_CORE_STATUS_MACROS_H_
