// Status / Result<T> (the error tier for bad input), the RETURN_IF_ERROR / ASSIGN_OR_RETURN macros, and CHECK
// (the programmer-error tier, which aborts with file:line and the streamed message).
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "core/check.h"
#include "core/status.h"

namespace frugal {
namespace {

TEST(StatusTest, DefaultIsOkWithEmptyMessage) {
    Status s;
    EXPECT_TRUE(s.ok());
    EXPECT_EQ(s.message(), "");
    EXPECT_TRUE(ok_status().ok());
    EXPECT_TRUE(Status::ok_status().ok());
}

TEST(StatusTest, ErrorCarriesMessage) {
    Status s = Status::error("tensor 'x' is broken");
    EXPECT_FALSE(s.ok());
    EXPECT_EQ(s.message(), "tensor 'x' is broken");
    // An error with an empty message is still an error.
    EXPECT_FALSE(Status::error("").ok());
}

TEST(StatusTest, ErrorfFormats) {
    Status s = Status::errorf("tensor '{}' extends past end of file: offset {}, size {}", "blk.3.attn_q.weight", 123, 456);
    EXPECT_FALSE(s.ok());
    EXPECT_EQ(s.message(), "tensor 'blk.3.attn_q.weight' extends past end of file: offset 123, size 456");
}

TEST(StatusTest, WithContextPrefixesErrorsOnly) {
    EXPECT_EQ(Status::error("bad magic").with_context("loading model.gguf").message(), "loading model.gguf: bad magic");
    const Status ok = ok_status().with_context("loading model.gguf");
    EXPECT_TRUE(ok.ok());
    EXPECT_EQ(ok.message(), "");
    // Contexts nest outermost first.
    EXPECT_EQ(Status::error("e").with_context("inner").with_context("outer").message(), "outer: inner: e");
}

TEST(ResultTest, HoldsValueOrStatus) {
    Result<int> good = 42;
    ASSERT_TRUE(good.ok());
    EXPECT_EQ(good.value(), 42);
    EXPECT_EQ(*good, 42);
    EXPECT_TRUE(good.status().ok());

    Result<int> bad = Status::error("nope");
    EXPECT_FALSE(bad.ok());
    EXPECT_EQ(bad.status().message(), "nope");
}

TEST(ResultTest, MoveOnlyValuesAndArrow) {
    Result<std::unique_ptr<std::string>> r = std::make_unique<std::string>("hello");
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(**r, "hello");
    EXPECT_EQ((*r)->size(), 5u);
    std::unique_ptr<std::string> taken = std::move(r).value();
    EXPECT_EQ(*taken, "hello");

    Result<std::vector<int>> v = std::vector<int>{1, 2, 3};
    EXPECT_EQ(v->size(), 3u);
}

// Helpers exercising the macros: they must return early with the first error and pass values through.
Status fails_if(bool fail, int* reached) {
    RETURN_IF_ERROR(fail ? Status::error("first") : ok_status());
    ++*reached;
    RETURN_IF_ERROR(ok_status());
    ++*reached;
    return ok_status();
}

Result<int> parse_positive(int v) {
    if (v <= 0) return Status::errorf("{} is not positive", v);
    return v;
}

Result<int> sum_positive(int a, int b, int* reached) {
    ASSIGN_OR_RETURN(int x, parse_positive(a));
    ++*reached;
    ASSIGN_OR_RETURN(int y, parse_positive(b));  // two on one function: distinct temporaries
    ++*reached;
    return x + y;
}

TEST(StatusMacrosTest, ReturnIfErrorStopsAtFirstError) {
    int reached = 0;
    Status s = fails_if(true, &reached);
    EXPECT_FALSE(s.ok());
    EXPECT_EQ(s.message(), "first");
    EXPECT_EQ(reached, 0);
    reached = 0;
    EXPECT_TRUE(fails_if(false, &reached).ok());
    EXPECT_EQ(reached, 2);
}

TEST(StatusMacrosTest, AssignOrReturnPropagates) {
    int reached = 0;
    Result<int> r = sum_positive(2, 3, &reached);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.value(), 5);
    EXPECT_EQ(reached, 2);

    reached = 0;
    r = sum_positive(2, -1, &reached);
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(r.status().message(), "-1 is not positive");
    EXPECT_EQ(reached, 1);

    reached = 0;
    r = sum_positive(0, 1, &reached);
    EXPECT_EQ(r.status().message(), "0 is not positive");
    EXPECT_EQ(reached, 0);
}

TEST(CheckDeathTest, FailingCheckAbortsWithLocationAndMessage) {
    EXPECT_DEATH({ CHECK(1 + 1 == 3) << "arithmetic is " << "broken"; }, "status_test.cpp.*1 \\+ 1 == 3.*arithmetic is broken");
    const int a = 2, b = 5;
    EXPECT_DEATH({ CHECK_EQ(a, b) << "extra"; }, "a = 2, b = 5");
}

TEST(CheckDeathTest, PassingCheckDoesNotEvaluateMessage) {
    int evaluated = 0;
    auto side_effect = [&] { return ++evaluated; };
    CHECK(true) << side_effect();
    EXPECT_EQ(evaluated, 0);
    // CHECK works as the body of an if without braces (no dangling-else surprise).
    bool flag = false;
    if (flag)
        CHECK(false) << "never";
    else
        flag = true;
    EXPECT_TRUE(flag);
}

}  // namespace
}  // namespace frugal
