// Human-facing progress and diagnostics go to stderr; stdout is reserved for generated text.
#pragma once

#include <fmt/format.h>

#include <cstdio>

namespace frugal {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

// Set once at start-up by the application; read by log(). Not thread-safe to change while running.
void set_log_level(LogLevel level);
LogLevel log_level();

template <typename... Args>
void log(LogLevel level, fmt::format_string<Args...> f, Args&&... args) {
    if (level < log_level()) return;
    fmt::print(stderr, "{}\n", fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace frugal

#define LOG_INFO(...) ::frugal::log(::frugal::LogLevel::kInfo, __VA_ARGS__)
#define LOG_WARN(...) ::frugal::log(::frugal::LogLevel::kWarning, __VA_ARGS__)
#define LOG_DEBUG(...) ::frugal::log(::frugal::LogLevel::kDebug, __VA_ARGS__)
