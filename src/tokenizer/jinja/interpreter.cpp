#include "tokenizer/jinja/interpreter.h"

#include <fmt/format.h>

#include <cmath>
#include <limits>

#include "tokenizer/jinja/text.h"

namespace frugal::jinja {

const Value* Scope::find(const std::string& name) const {
    for (const Scope* s = this; s; s = s->parent.get()) {
        for (const auto& [key, value] : s->vars) {
            if (key == name) return &value;
        }
    }
    return nullptr;
}

void Scope::set(const std::string& name, Value value) {
    for (auto& [key, v] : vars) {
        if (key == name) {
            v = std::move(value);
            return;
        }
    }
    vars.emplace_back(name, std::move(value));
}

void fail_undefined(const Value& v) {
    throw TemplateError(v.undefined_hint().empty() ? "undefined value used" : v.undefined_hint());
}

Interpreter::~Interpreter() {
    for (const std::shared_ptr<Scope>& s : closure_scopes_) s->vars.clear();
    for (const std::weak_ptr<Dict>& w : namespaces_) {
        if (std::shared_ptr<Dict> d = w.lock()) d->entries.clear();
    }
}

void Interpreter::charge(size_t n) {
    steps_ += n;
    if (steps_ > limits_.max_steps) {
        throw TemplateError(fmt::format("template exceeded its budget of {} steps", limits_.max_steps));
    }
}

void Interpreter::check_size(size_t n) {
    if (n > limits_.max_output_bytes) {
        throw TemplateError(fmt::format("template value exceeds {} bytes", limits_.max_output_bytes));
    }
    charge(n / 256);
}

void Interpreter::check_items(size_t n) {
    if (n > limits_.max_list_items) throw TemplateError(fmt::format("list longer than {} items", limits_.max_list_items));
    charge(n);
}

void Interpreter::check_output(const std::string& out) const {
    if (out.size() > limits_.max_output_bytes) {
        throw TemplateError(fmt::format("template output exceeds {} bytes", limits_.max_output_bytes));
    }
}

std::string Interpreter::render(const Body& body, const std::shared_ptr<Scope>& scope) {
    std::string out;
    exec(body, scope, out);
    return out;
}

Interpreter::Flow Interpreter::exec(const Body& body, const std::shared_ptr<Scope>& scope, std::string& out) {
    for (const StmtPtr& s : body) {
        const Flow flow = exec_stmt(*s, scope, out);
        if (flow != Flow::kNormal) return flow;
    }
    return Flow::kNormal;
}

Interpreter::Flow Interpreter::exec_stmt(const Stmt& s, const std::shared_ptr<Scope>& scope, std::string& out) {
    charge(1);
    switch (s.kind) {
        case StmtKind::kText:
            out += s.text;
            check_output(out);
            return Flow::kNormal;
        case StmtKind::kOutput:
            out += eval(*s.expr, scope).str();
            check_output(out);
            return Flow::kNormal;
        case StmtKind::kIf:
            for (const auto& [cond, body] : s.branches) {
                if (!cond || eval(*cond, scope).truthy()) return exec(body, scope, out);
            }
            return Flow::kNormal;
        case StmtKind::kFor:
            return exec_for(s, scope, out);
        case StmtKind::kSet:
            assign(*s.target, eval(*s.expr, scope), scope);
            return Flow::kNormal;
        case StmtKind::kSetBlock: {
            std::string captured;
            exec(s.body, scope, captured);
            Value v = Value::string(std::move(captured));
            if (s.expr) v = eval_filter_chain(*s.expr, v, scope);
            assign(*s.target, v, scope);
            return Flow::kNormal;
        }
        case StmtKind::kMacro:
            scope->set(s.name, define_macro(s, scope));
            return Flow::kNormal;
        case StmtKind::kCallBlock: {
            Stmt caller_def;
            caller_def.kind = StmtKind::kMacro;
            caller_def.name = "caller";
            const Expr& call_expr = *s.expr;
            Value callee = eval(*call_expr.args[0], scope);
            Args args = eval_args(call_expr, 1, scope);
            // The caller macro renders the block body in the calling scope.
            const Stmt* block = &s;
            closure_scopes_.push_back(scope);
            Value caller = Value::callable("caller", [this, block, scope](Interpreter&, const Args& a) {
                auto local = std::make_shared<Scope>();
                local->parent = scope;
                for (size_t i = 0; i < block->params.size(); ++i) {
                    const Value* v = a.get(i, block->params[i].first);
                    local->set(block->params[i].first,
                               v ? *v : block->params[i].second ? eval(*block->params[i].second, local) : Value());
                }
                std::string text;
                exec(block->body, local, text);
                return Value::string(std::move(text));
            });
            args.named.emplace_back("caller", caller);
            out += call(callee, args, "call block").str();
            check_output(out);
            return Flow::kNormal;
        }
        case StmtKind::kFilterBlock: {
            std::string captured;
            exec(s.body, scope, captured);
            out += eval_filter_chain(*s.expr, Value::string(std::move(captured)), scope).str();
            check_output(out);
            return Flow::kNormal;
        }
        case StmtKind::kBreak:
            return Flow::kBreak;
        case StmtKind::kContinue:
            return Flow::kContinue;
        case StmtKind::kScope:
            return exec(s.body, scope, out);
    }
    return Flow::kNormal;
}

Interpreter::Flow Interpreter::exec_for(const Stmt& s, const std::shared_ptr<Scope>& scope, std::string& out) {
    if (s.recursive) throw TemplateError(fmt::format("template line {}: recursive loops are not supported", s.line));
    const Value iterable = eval(*s.expr, scope);
    ValueList items = iterate(iterable);
    auto bind = [&](const std::shared_ptr<Scope>& local, const Value& item) {
        if (s.targets.size() == 1) {
            local->set(s.targets[0], item);
            return;
        }
        const ValueList parts = iterate(item);
        if (parts.size() != s.targets.size()) {
            throw TemplateError(fmt::format("template line {}: cannot unpack {} values into {} loop variables", s.line,
                                            parts.size(), s.targets.size()));
        }
        for (size_t i = 0; i < parts.size(); ++i) local->set(s.targets[i], parts[i]);
    };
    if (s.condition) {
        ValueList kept;
        for (const Value& item : items) {
            auto local = std::make_shared<Scope>();
            local->parent = scope;
            bind(local, item);
            if (eval(*s.condition, local).truthy()) kept.push_back(item);
        }
        items = std::move(kept);
    }
    if (items.empty()) return exec(s.else_body, scope, out);
    const auto n = static_cast<int64_t>(items.size());
    for (int64_t i = 0; i < n; ++i) {
        charge(16);  // an iteration builds a scope and the loop object: it costs what ~16 expressions do
        auto local = std::make_shared<Scope>();
        local->parent = scope;
        bind(local, items[static_cast<size_t>(i)]);
        auto loop = std::make_shared<Dict>();
        loop->set(Value::string("index"), Value::integer(i + 1));
        loop->set(Value::string("index0"), Value::integer(i));
        loop->set(Value::string("revindex"), Value::integer(n - i));
        loop->set(Value::string("revindex0"), Value::integer(n - i - 1));
        loop->set(Value::string("first"), Value::boolean(i == 0));
        loop->set(Value::string("last"), Value::boolean(i == n - 1));
        loop->set(Value::string("length"), Value::integer(n));
        loop->set(Value::string("depth"), Value::integer(1));
        loop->set(Value::string("depth0"), Value::integer(0));
        loop->set(Value::string("previtem"), i > 0 ? items[static_cast<size_t>(i - 1)]
                                                   : Value::undefined("'loop' has no previous item"));
        loop->set(Value::string("nextitem"), i + 1 < n ? items[static_cast<size_t>(i + 1)]
                                                       : Value::undefined("'loop' has no next item"));
        loop->set(Value::string("cycle"), Value::callable("loop.cycle", [i](Interpreter&, const Args& a) {
                      if (a.positional.empty()) throw TemplateError("no items for cycling given");
                      return a.positional[static_cast<size_t>(i) % a.positional.size()];
                  }));
        local->set("loop", Value::dict(loop));
        const Flow flow = exec(s.body, local, out);
        if (flow == Flow::kBreak) break;
    }
    return Flow::kNormal;
}

void Interpreter::assign(const Expr& target, const Value& value, const std::shared_ptr<Scope>& scope) {
    if (target.kind == ExprKind::kName) {
        scope->set(target.name, value);
        return;
    }
    if (target.kind == ExprKind::kGetAttr) {
        const Value ns = eval(*target.args[0], scope);
        if (!ns.is_namespace()) {
            throw TemplateError(fmt::format("template line {}: cannot assign attribute on non-namespace object",
                                            target.line));
        }
        if (!target.name.empty() && target.name[0] == '_') {
            throw TemplateError(fmt::format("Chat templates cannot store underscore-prefixed attributes on a namespace, "
                                            "but got '{}'",
                                            target.name));
        }
        ns.mutable_namespace().set(Value::string(target.name), value);
        return;
    }
    const ValueList parts = iterate(value);
    if (parts.size() != target.args.size()) {
        throw TemplateError(fmt::format("template line {}: cannot unpack {} values into {} names", target.line,
                                        parts.size(), target.args.size()));
    }
    for (size_t i = 0; i < parts.size(); ++i) assign(*target.args[i], parts[i], scope);
}

Value Interpreter::define_macro(const Stmt& s, const std::shared_ptr<Scope>& scope) {
    const Stmt* macro = &s;
    closure_scopes_.push_back(scope);
    return Value::callable(s.name, [this, macro, scope](Interpreter&, const Args& args) {
        if (++call_depth_ > limits_.max_call_depth) {
            throw TemplateError(fmt::format("macro calls nested deeper than {}", limits_.max_call_depth));
        }
        auto local = std::make_shared<Scope>();
        local->parent = scope;
        const size_t num_params = macro->params.size();
        for (size_t i = 0; i < num_params; ++i) {
            const auto& [name, def] = macro->params[i];
            const Value* v = args.get(i, name);
            local->set(name, v ? *v : def ? eval(*def, local) : Value::undefined("'" + name + "' is undefined"));
        }
        ValueList varargs;
        for (size_t i = num_params; i < args.positional.size(); ++i) varargs.push_back(args.positional[i]);
        local->set("varargs", Value::tuple(std::move(varargs)));
        auto kwargs = std::make_shared<Dict>();
        for (const auto& [key, value] : args.named) {
            bool is_param = key == "caller";
            for (const auto& p : macro->params) is_param = is_param || p.first == key;
            if (!is_param) kwargs->set(Value::string(key), value);
            if (key == "caller") local->set("caller", value);
        }
        local->set("kwargs", Value::dict(kwargs));
        std::string text;
        exec(macro->body, local, text);
        --call_depth_;
        return Value::string(std::move(text));
    });
}

Args Interpreter::eval_args(const Expr& e, size_t first, const std::shared_ptr<Scope>& scope) {
    Args args;
    for (size_t i = first; i < e.args.size(); ++i) args.positional.push_back(eval(*e.args[i], scope));
    for (const auto& [key, value] : e.kwargs) args.named.emplace_back(key, eval(*value, scope));
    return args;
}

Value Interpreter::eval_filter_chain(const Expr& e, const Value& input, const std::shared_ptr<Scope>& scope) {
    const Value in = e.args[0] ? eval_filter_chain(*e.args[0], input, scope) : input;
    return apply_filter(e.name, in, eval_args(e, 1, scope));
}

Value Interpreter::call(const Value& callee, const Args& args, const std::string& what) {
    if (callee.is_undefined()) fail_undefined(callee);
    if (!callee.is_callable()) throw TemplateError(fmt::format("'{}' object is not callable", callee.type_name()));
    charge(1);
    return callee.as_callable().fn(*this, args);
}

Value Interpreter::apply_filter(const std::string& name, const Value& input, const Args& args) {
    charge(1);
    return call_filter(*this, name, input, args);
}

bool Interpreter::apply_test(const std::string& name, const Value& input, const Args& args) {
    charge(1);
    return call_test(*this, name, input, args);
}

ValueList Interpreter::iterate(const Value& v) {
    switch (v.kind()) {
        case Value::Kind::kUndefined:
            return {};
        case Value::Kind::kList:
        case Value::Kind::kTuple:
            charge(v.items().size());
            return v.items();
        case Value::Kind::kIterator:
            charge(v.items().size());
            return v.consume();
        case Value::Kind::kDict: {
            ValueList keys;
            for (const auto& [k, val] : v.as_dict().entries) keys.push_back(k);
            charge(keys.size());
            return keys;
        }
        case Value::Kind::kString: {
            ValueList chars;
            for (const int32_t cp : decode_utf8(v.as_string())) {
                std::string c;
                append_utf8(c, cp);
                chars.push_back(Value::string(std::move(c)));
            }
            charge(chars.size());
            return chars;
        }
        default:
            throw TemplateError(fmt::format("'{}' object is not iterable", v.type_name()));
    }
}

Value Interpreter::get_attr(const Value& obj, const std::string& name) {
    if (obj.is_undefined()) fail_undefined(obj);
    if (obj.is_namespace()) {
        const Value* v = obj.as_dict().find(name);
        return v ? *v : Value::undefined(fmt::format("'Namespace' object has no attribute '{}'", name));
    }
    Value method = method_of(*this, obj, name);
    if (!method.is_undefined() || !method.undefined_hint().empty()) return method;
    if (obj.is_mapping()) {
        const Value* v = obj.as_dict().find(name);
        if (v) return *v;
        return Value::undefined(fmt::format("'dict object' has no attribute '{}'", name));
    }
    return Value::undefined(fmt::format("'{}' object has no attribute '{}'", obj.type_name(), name));
}

Value Interpreter::get_item(const Value& obj, const Value& key) {
    if (obj.is_undefined()) fail_undefined(obj);
    if (obj.is_mapping() || obj.is_namespace()) {
        const Value* v = obj.as_dict().find(key);
        if (v) return *v;
        if (key.is_string() && obj.is_mapping()) {
            Value method = method_of(*this, obj, key.as_string());
            if (method.is_callable()) return method;
        }
        return Value::undefined(fmt::format("'dict object' has no attribute {}", key.repr()));
    }
    if ((obj.is_sequence() || obj.is_string()) && key.is_int()) {
        int64_t i = key.as_int();
        if (obj.is_string()) {
            const std::vector<int32_t> cps = decode_utf8(obj.as_string());
            const auto n = static_cast<int64_t>(cps.size());
            if (i < 0) i += n;
            if (i < 0 || i >= n) return Value::undefined("string index out of range");
            return Value::string(encode_utf8(cps, static_cast<size_t>(i), static_cast<size_t>(i) + 1));
        }
        const auto n = static_cast<int64_t>(obj.items().size());
        if (i < 0) i += n;
        if (i < 0 || i >= n) return Value::undefined(fmt::format("{} index out of range", obj.type_name()));
        return obj.items()[static_cast<size_t>(i)];
    }
    if (key.is_string()) return get_attr(obj, key.as_string());
    return Value::undefined(fmt::format("'{}' object has no item {}", obj.type_name(), key.repr()));
}

namespace {

// Python's slice.indices(): clamps start/stop for the given step.
void slice_bounds(int64_t n, const Value& start_v, const Value& stop_v, const Value& step_v, int64_t* start,
                  int64_t* stop, int64_t* step) {
    *step = step_v.is_none() || step_v.is_undefined() ? 1 : step_v.as_int();
    if (*step == 0) throw TemplateError("slice step cannot be zero");
    auto clamp = [&](const Value& v, int64_t def) {
        if (v.is_none() || v.is_undefined()) return def;
        if (!v.is_int()) throw TemplateError("slice indices must be integers or None");
        int64_t i = v.as_int();
        if (i < 0) i += n;
        if (*step > 0) return std::min(std::max<int64_t>(i, 0), n);
        return std::min(std::max<int64_t>(i, -1), n - 1);
    };
    *start = clamp(start_v, *step > 0 ? 0 : n - 1);
    *stop = clamp(stop_v, *step > 0 ? n : -1);
}

bool int_overflows(__int128 v) {
    return v > std::numeric_limits<int64_t>::max() || v < std::numeric_limits<int64_t>::min();
}

Value int_or_float(__int128 v) {
    return int_overflows(v) ? Value::number(static_cast<double>(v)) : Value::integer(static_cast<int64_t>(v));
}

}  // namespace

Value Interpreter::eval(const Expr& e, const std::shared_ptr<Scope>& scope) {
    charge(1);
    switch (e.kind) {
        case ExprKind::kLiteral:
            return e.literal;
        case ExprKind::kName: {
            const Value* v = scope->find(e.name);
            return v ? *v : Value::undefined(fmt::format("'{}' is undefined", e.name));
        }
        case ExprKind::kList:
        case ExprKind::kTuple: {
            ValueList items;
            for (const ExprPtr& a : e.args) items.push_back(eval(*a, scope));
            return e.kind == ExprKind::kList ? Value::list(std::move(items)) : Value::tuple(std::move(items));
        }
        case ExprKind::kDict: {
            auto d = std::make_shared<Dict>();
            for (size_t i = 0; i + 1 < e.args.size(); i += 2) d->set(eval(*e.args[i], scope), eval(*e.args[i + 1], scope));
            return Value::dict(d);
        }
        case ExprKind::kGetAttr:
            return get_attr(eval(*e.args[0], scope), e.name);
        case ExprKind::kGetItem:
            return get_item(eval(*e.args[0], scope), eval(*e.args[1], scope));
        case ExprKind::kSlice: {
            const Value obj = eval(*e.args[0], scope);
            if (obj.is_undefined()) fail_undefined(obj);
            Value parts[3];
            for (int i = 0; i < 3; ++i) parts[i] = e.args[static_cast<size_t>(i) + 1] ? eval(*e.args[static_cast<size_t>(i) + 1], scope) : Value::none();
            int64_t start = 0, stop = 0, step = 1;
            if (obj.is_string()) {
                const std::vector<int32_t> cps = decode_utf8(obj.as_string());
                slice_bounds(static_cast<int64_t>(cps.size()), parts[0], parts[1], parts[2], &start, &stop, &step);
                std::string out;
                for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) append_utf8(out, cps[static_cast<size_t>(i)]);
                return Value::string(std::move(out));
            }
            if (!obj.is_sequence()) throw TemplateError(fmt::format("'{}' object is not subscriptable", obj.type_name()));
            slice_bounds(static_cast<int64_t>(obj.items().size()), parts[0], parts[1], parts[2], &start, &stop, &step);
            ValueList out;
            for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) out.push_back(obj.items()[static_cast<size_t>(i)]);
            charge(out.size());
            return obj.kind() == Value::Kind::kTuple ? Value::tuple(std::move(out)) : Value::list(std::move(out));
        }
        case ExprKind::kCall: {
            const Value callee = eval(*e.args[0], scope);
            return call(callee, eval_args(e, 1, scope), "call");
        }
        case ExprKind::kFilter:
            return apply_filter(e.name, eval(*e.args[0], scope), eval_args(e, 1, scope));
        case ExprKind::kTest: {
            const bool r = apply_test(e.name, eval(*e.args[0], scope), eval_args(e, 1, scope));
            return Value::boolean(e.negated ? !r : r);
        }
        case ExprKind::kUnary: {
            const Value v = eval(*e.args[0], scope);
            if (e.name == "not") return Value::boolean(!v.truthy());
            if (v.is_undefined()) fail_undefined(v);
            if (!v.is_number()) throw TemplateError(fmt::format("bad operand type for unary {}: '{}'", e.name, v.type_name()));
            if (e.name == "+") return v.is_int() ? Value::integer(v.as_int()) : v;
            if (v.kind() == Value::Kind::kFloat) return Value::number(-v.as_double());
            return int_or_float(-static_cast<__int128>(v.as_int()));
        }
        case ExprKind::kBinary: {
            if (e.name == "and" || e.name == "or") {
                Value a = eval(*e.args[0], scope);
                if ((e.name == "and") != a.truthy()) return a;
                return eval(*e.args[1], scope);
            }
            return eval_binary(e.name, eval(*e.args[0], scope), eval(*e.args[1], scope));
        }
        case ExprKind::kCompare: {
            Value left = eval(*e.args[0], scope);
            for (size_t i = 0; i < e.ops.size(); ++i) {
                Value right = eval(*e.args[i + 1], scope);
                if (!compare(e.ops[i], left, right)) return Value::boolean(false);
                left = std::move(right);
            }
            return Value::boolean(true);
        }
        case ExprKind::kCondition:
            if (eval(*e.args[0], scope).truthy()) return eval(*e.args[1], scope);
            return e.args[2] ? eval(*e.args[2], scope) : Value::undefined("the condition was false and there is no else");
    }
    return Value();
}

bool Interpreter::compare(const std::string& op, const Value& a, const Value& b) {
    if (op == "==") return values_equal(a, b);
    if (op == "!=") return !values_equal(a, b);
    if (op == "in" || op == "not in") {
        bool found = false;
        if (b.is_string()) {
            if (!a.is_string()) {
                if (a.is_undefined()) fail_undefined(a);
                throw TemplateError(fmt::format("'in <string>' requires string as left operand, not {}", a.type_name()));
            }
            found = b.as_string().find(a.as_string()) != std::string::npos;
        } else if (b.is_mapping() || b.is_namespace()) {
            found = b.as_dict().find(a) != nullptr;
        } else if (b.is_sequence()) {
            for (const Value& item : b.items()) {
                if (values_equal(item, a)) {
                    found = true;
                    break;
                }
            }
        } else if (b.is_iterator()) {
            for (const Value& item : b.consume()) {
                if (values_equal(item, a)) {
                    found = true;
                    break;
                }
            }
        } else if (b.is_undefined()) {
            found = false;  // Jinja's Undefined is an empty container
        } else {
            throw TemplateError(fmt::format("argument of type '{}' is not iterable", b.type_name()));
        }
        return op == "in" ? found : !found;
    }
    if (a.is_undefined()) fail_undefined(a);
    if (b.is_undefined()) fail_undefined(b);
    if (op == "<") return values_less(a, b);
    if (op == ">") return values_less(b, a);
    if (op == "<=") return !values_less(b, a);
    if (op == ">=") return !values_less(a, b);
    throw TemplateError("unknown comparison " + op);
}

Value Interpreter::eval_binary(const std::string& op, const Value& a, const Value& b) {
    if (op == "~") {
        std::string s = a.str();
        s += b.str();
        check_size(s.size());
        return Value::string(std::move(s));
    }
    if (a.is_undefined()) fail_undefined(a);
    if (b.is_undefined()) fail_undefined(b);
    auto type_error = [&]() -> Value {
        throw TemplateError(fmt::format("unsupported operand type(s) for {}: '{}' and '{}'", op, a.type_name(),
                                        b.type_name()));
    };
    const bool ints = a.is_int() && b.is_int();
    const bool nums = a.is_number() && b.is_number();
    if (op == "+") {
        if (ints) return int_or_float(static_cast<__int128>(a.as_int()) + b.as_int());
        if (nums) return Value::number(a.as_double() + b.as_double());
        if (a.is_string() && b.is_string()) {
            check_size(a.as_string().size() + b.as_string().size());
            if (a.is_markup() || b.is_markup()) {  // markupsafe escapes the plain operand
                return Value::markup((a.is_markup() ? a.as_string() : html_escape(a.as_string())) +
                                     (b.is_markup() ? b.as_string() : html_escape(b.as_string())));
            }
            return Value::string(a.as_string() + b.as_string());
        }
        if (a.kind() == b.kind() && a.is_sequence()) {
            check_items(a.items().size() + b.items().size());
            ValueList items = a.items();
            items.insert(items.end(), b.items().begin(), b.items().end());
            charge(items.size());
            return a.kind() == Value::Kind::kList ? Value::list(std::move(items)) : Value::tuple(std::move(items));
        }
        if (a.is_string() || b.is_string()) {
            throw TemplateError(fmt::format("can only concatenate str (not \"{}\") to str",
                                            (a.is_string() ? b : a).type_name()));
        }
        return type_error();
    }
    if (op == "-") {
        if (ints) return int_or_float(static_cast<__int128>(a.as_int()) - b.as_int());
        if (nums) return Value::number(a.as_double() - b.as_double());
        return type_error();
    }
    if (op == "*") {
        if (ints) return int_or_float(static_cast<__int128>(a.as_int()) * b.as_int());
        if (nums) return Value::number(a.as_double() * b.as_double());
        const Value* seq = a.is_int() ? &b : &a;
        const Value* count = a.is_int() ? &a : &b;
        if (!count->is_int() || !(seq->is_string() || seq->is_sequence())) return type_error();
        const int64_t n = std::max<int64_t>(count->as_int(), 0);
        const size_t unit = seq->is_string() ? seq->as_string().size() : seq->items().size();
        const double limit = static_cast<double>(seq->is_string() ? limits_.max_output_bytes : limits_.max_list_items);
        if (unit && static_cast<double>(n) * static_cast<double>(unit) > limit) {
            throw TemplateError("repetition result too large");
        }
        charge(static_cast<size_t>(n) * unit / 64 + 1);
        if (seq->is_string()) {
            std::string s;
            for (int64_t i = 0; i < n; ++i) s += seq->as_string();
            return Value::string(std::move(s));
        }
        ValueList items;
        for (int64_t i = 0; i < n; ++i) items.insert(items.end(), seq->items().begin(), seq->items().end());
        return seq->kind() == Value::Kind::kList ? Value::list(std::move(items)) : Value::tuple(std::move(items));
    }
    if (op == "/") {
        if (!nums) return type_error();
        if (b.as_double() == 0) throw TemplateError("division by zero");
        return Value::number(a.as_double() / b.as_double());
    }
    if (op == "//" || op == "%") {
        if (op == "%" && a.is_string()) {
            return call_filter(*this, "format", a, Args{b.kind() == Value::Kind::kTuple ? b.items() : ValueList{b}, {}});
        }
        if (!nums) return type_error();
        if (b.as_double() == 0) throw TemplateError(op == "%" ? "modulo by zero" : "integer division or modulo by zero");
        if (ints) {
            const int64_t x = a.as_int();
            const int64_t y = b.as_int();
            if (x == std::numeric_limits<int64_t>::min() && y == -1) return Value::number(-static_cast<double>(x));
            int64_t q = x / y;
            int64_t r = x % y;
            if (r != 0 && ((r < 0) != (y < 0))) {
                --q;
                r += y;
            }
            return Value::integer(op == "//" ? q : r);
        }
        const double x = a.as_double();
        const double y = b.as_double();
        const double q = std::floor(x / y);
        if (op == "//") return Value::number(q);
        double r = std::fmod(x, y);
        if (r != 0 && ((r < 0) != (y < 0))) r += y;
        return Value::number(r);
    }
    if (op == "**") {
        if (!nums) return type_error();
        if (ints && b.as_int() >= 0) {
            const int64_t base = a.as_int();
            const int64_t exp = b.as_int();
            if (base == 0 || base == 1) return Value::integer(exp == 0 ? 1 : base);
            if (base == -1) return Value::integer(exp % 2 ? -1 : 1);
            __int128 r = 1;
            for (int64_t i = 0; i < exp; ++i) {  // |base| >= 2: overflows within 64 steps
                r *= base;
                if (int_overflows(r)) return Value::number(std::pow(a.as_double(), b.as_double()));
            }
            return int_or_float(r);
        }
        return Value::number(std::pow(a.as_double(), b.as_double()));
    }
    throw TemplateError("unknown operator " + op);
}

}  // namespace frugal::jinja
