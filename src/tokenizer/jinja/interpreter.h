// Renders a parsed template: Jinja2's evaluation rules (scoping of loops and macros, Undefined, Python operators)
// with transformers' chat-template globals. One Interpreter renders one template once; it is not shared between
// threads. Work and output are budgeted so that a hostile template ends with an error, not a hang.
#pragma once

#include <ctime>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tokenizer/jinja/ast.h"
#include "tokenizer/jinja/value.h"

namespace frugal::jinja {

struct RenderLimits {
    size_t max_output_bytes = size_t{256} << 20;
    size_t max_list_items = size_t{1} << 20;
    size_t max_steps = 20'000'000;  // expression evaluations, loop iterations and produced list items
    int max_call_depth = 200;       // nested macro calls
};

// Variables of one scope; a scope sees its parents' variables. Loop bodies and macro calls open a scope; `if` does not.
struct Scope {
    std::vector<std::pair<std::string, Value>> vars;
    std::shared_ptr<Scope> parent;

    const Value* find(const std::string& name) const;
    void set(const std::string& name, Value value);
};

class Interpreter {
public:
    // `now` is what strftime_now formats (local time by default).
    Interpreter(RenderLimits limits, std::tm now) : limits_(limits), now_(now) {}
    // Breaks the reference cycles a render can leave (a macro held by the scope it closes over, a namespace
    // holding itself) so that nothing outlives the render.
    ~Interpreter();
    Interpreter(const Interpreter&) = delete;
    Interpreter& operator=(const Interpreter&) = delete;

    // Renders body in scope; throws TemplateError.
    std::string render(const Body& body, const std::shared_ptr<Scope>& scope);

    Value eval(const Expr& e, const std::shared_ptr<Scope>& scope);
    Value call(const Value& callee, const Args& args, const std::string& what);
    Value get_attr(const Value& obj, const std::string& name);
    Value get_item(const Value& obj, const Value& key);
    Value apply_filter(const std::string& name, const Value& input, const Args& args);
    bool apply_test(const std::string& name, const Value& input, const Args& args);
    // The items a for loop visits: list/tuple items, dict keys, string characters; Undefined is empty.
    ValueList iterate(const Value& v);
    // Charges n units of work against the step budget.
    void charge(size_t n);
    const std::tm& now() const { return now_; }
    // Namespaces are the one mutable container; the interpreter clears them when it ends (see ~Interpreter).
    void track_namespace(const std::shared_ptr<Dict>& d) { namespaces_.push_back(d); }

private:
    enum class Flow { kNormal, kBreak, kContinue };
    Flow exec(const Body& body, const std::shared_ptr<Scope>& scope, std::string& out);
    Flow exec_stmt(const Stmt& s, const std::shared_ptr<Scope>& scope, std::string& out);
    Flow exec_for(const Stmt& s, const std::shared_ptr<Scope>& scope, std::string& out);
    void assign(const Expr& target, const Value& value, const std::shared_ptr<Scope>& scope);
    Value define_macro(const Stmt& s, const std::shared_ptr<Scope>& scope);
    Value eval_binary(const std::string& op, const Value& a, const Value& b);
    bool compare(const std::string& op, const Value& a, const Value& b);
    Value eval_filter_chain(const Expr& e, const Value& input, const std::shared_ptr<Scope>& scope);
    Args eval_args(const Expr& e, size_t first, const std::shared_ptr<Scope>& scope);
    void check_output(const std::string& out) const;
    // A string or list about to be built with n bytes/items: bounded by the output limit, charged as work.
    void check_size(size_t n);
    void check_items(size_t n);

    RenderLimits limits_;
    std::tm now_;
    size_t steps_ = 0;
    int call_depth_ = 0;
    std::vector<std::shared_ptr<Scope>> closure_scopes_;  // scopes a macro or caller closes over
    std::vector<std::weak_ptr<Dict>> namespaces_;
};

// Filters and tests Jinja knows at compile time (an unknown one outside an `if` is a template error, as in Jinja).
bool is_known_filter(const std::string& name);
bool is_known_test(const std::string& name);
// Builtins (builtins.cpp).
Value call_filter(Interpreter& in, const std::string& name, const Value& input, const Args& args);
bool call_test(Interpreter& in, const std::string& name, const Value& input, const Args& args);
// A bound method of a str, dict or list (`"a,b".split(",")`), or Undefined when there is none.
Value method_of(Interpreter& in, const Value& obj, const std::string& name);
// The global functions transformers' environment offers: range, dict, namespace, raise_exception, strftime_now,
// cycler, joiner, lipsum-free.
std::vector<std::pair<std::string, Value>> global_functions();
// Python's `format % args` (printf-style: %s %r %d %i %f %e %g %x %o %c %%, flags, width, precision; a dict
// argument for %(name)s).
std::string printf_format(const std::string& format, const Args& args);
// Raises the error an Undefined carries when used ("'x' is undefined").
[[noreturn]] void fail_undefined(const Value& v);

}  // namespace frugal::jinja
