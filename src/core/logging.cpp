#include "core/logging.h"

namespace frugal {
namespace {
LogLevel g_log_level = LogLevel::kInfo;  // process-wide verbosity, set by the application at start-up
}  // namespace

void set_log_level(LogLevel level) { g_log_level = level; }
LogLevel log_level() { return g_log_level; }

}  // namespace frugal
