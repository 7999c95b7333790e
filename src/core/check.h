// CHECK: programmer errors (broken invariants) abort with file:line and a message.
#pragma once

#include <sstream>

namespace frugal::detail {

class CheckFailure {
public:
    CheckFailure(const char* file, int line, const char* condition);
    [[noreturn]] ~CheckFailure();
    std::ostream& stream() { return stream_; }

private:
    std::ostringstream stream_;
};

}  // namespace frugal::detail

#define CHECK(cond) \
    if (cond) {     \
    } else          \
        ::frugal::detail::CheckFailure(__FILE__, __LINE__, #cond).stream()

#define CHECK_EQ(a, b) CHECK((a) == (b)) << #a " = " << (a) << ", " #b " = " << (b) << " "
#define CHECK_LE(a, b) CHECK((a) <= (b)) << #a " = " << (a) << ", " #b " = " << (b) << " "
#define CHECK_LT(a, b) CHECK((a) < (b)) << #a " = " << (a) << ", " #b " = " << (b) << " "
