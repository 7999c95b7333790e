// Status and Result<T>: the error tier for bad input and environment (malformed files, invalid requests).
// Programmer errors use CHECK (check.h) instead. No exception crosses the library API.
#pragma once

#include <fmt/format.h>

#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace frugal {

class Status {
public:
    Status() = default;
    static Status ok_status() { return Status(); }
    static Status error(std::string message) { return Status(std::move(message), true); }
    template <typename... Args>
    static Status errorf(fmt::format_string<Args...> f, Args&&... args) {
        return error(fmt::format(f, std::forward<Args>(args)...));
    }

    bool ok() const { return !failed_; }
    const std::string& message() const { return message_; }
    // Prefixes context ("loading model.gguf: ") onto an error; a no-op on success.
    Status with_context(const std::string& context) const {
        return ok() ? *this : Status(context + ": " + message_, true);
    }

private:
    Status(std::string message, bool failed) : message_(std::move(message)), failed_(failed) {}
    std::string message_;
    bool failed_ = false;
};

inline Status ok_status() { return Status(); }

template <typename T>
class Result {
public:
    Result(T value) : value_(std::move(value)) {}                         // NOLINT(google-explicit-constructor)
    Result(Status status) : status_(std::move(status)) {}                 // NOLINT(google-explicit-constructor)
    bool ok() const { return value_.has_value(); }
    const Status& status() const { return status_; }
    T& value() & { return *value_; }
    const T& value() const& { return *value_; }
    T&& value() && { return std::move(*value_); }
    T* operator->() { return &*value_; }
    const T* operator->() const { return &*value_; }
    T& operator*() & { return *value_; }

private:
    std::optional<T> value_;
    Status status_;
};

}  // namespace frugal

#define FRUGAL_CONCAT_INNER(a, b) a##b
#define FRUGAL_CONCAT(a, b) FRUGAL_CONCAT_INNER(a, b)

#define RETURN_IF_ERROR(expr)                          \
    do {                                               \
        ::frugal::Status frugal_status_ = (expr);      \
        if (!frugal_status_.ok()) return frugal_status_; \
    } while (0)

#define ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
    auto tmp = (expr);                        \
    if (!tmp.ok()) return tmp.status();       \
    lhs = std::move(tmp).value()

#define ASSIGN_OR_RETURN(lhs, expr) ASSIGN_OR_RETURN_IMPL(FRUGAL_CONCAT(frugal_result_, __LINE__), lhs, expr)
