#include <cstdio>

int main() {
    std::fprintf(stderr, "frugal: under construction\n");
    return 1;
}
