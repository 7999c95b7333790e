#include "tokenizer/jinja/template.h"

#include <fmt/format.h>

#include "tokenizer/jinja/lexer.h"
#include "tokenizer/jinja/parser.h"

namespace frugal::jinja {
namespace {

// Jinja resolves filter and test names when it compiles: an unknown one is an error unless it sits in the body
// of an `if`, where the error is deferred to the moment it is evaluated.
Status check_names(const Expr& e, bool soft) {
    if (!soft && e.kind == ExprKind::kFilter && !is_known_filter(e.name)) {
        return Status::errorf("template line {}: No filter named '{}'.", e.line, e.name);
    }
    if (!soft && e.kind == ExprKind::kTest && !is_known_test(e.name)) {
        return Status::errorf("template line {}: No test named '{}'.", e.line, e.name);
    }
    for (const ExprPtr& a : e.args) {
        if (a) RETURN_IF_ERROR(check_names(*a, soft));
    }
    for (const auto& [key, a] : e.kwargs) RETURN_IF_ERROR(check_names(*a, soft));
    return ok_status();
}

Status check_names(const Body& body, bool soft) {
    for (const StmtPtr& s : body) {
        for (const Expr* e : {s->expr.get(), s->target.get(), s->condition.get()}) {
            if (e) RETURN_IF_ERROR(check_names(*e, soft));
        }
        for (const auto& [name, def] : s->params) {
            if (def) RETURN_IF_ERROR(check_names(*def, soft));
        }
        for (const auto& [cond, branch] : s->branches) {
            if (cond) RETURN_IF_ERROR(check_names(*cond, soft));
            RETURN_IF_ERROR(check_names(branch, true));
        }
        RETURN_IF_ERROR(check_names(s->body, soft));
        RETURN_IF_ERROR(check_names(s->else_body, soft));
    }
    return ok_status();
}

}  // namespace

Result<Template> Template::parse(const std::string& source) {
    ASSIGN_OR_RETURN(std::vector<Token> tokens, tokenize_template(source));
    ASSIGN_OR_RETURN(Body body, parse_template(tokens));
    RETURN_IF_ERROR(check_names(body, false));
    Template t;
    t.body_ = std::make_shared<const Body>(std::move(body));
    return t;
}

Result<std::string> Template::render(const std::vector<std::pair<std::string, Value>>& variables,
                                     const RenderOptions& options) const {
    std::tm now{};
    if (options.now) {
        now = *options.now;
    } else {
        const std::time_t t = std::time(nullptr);
        localtime_r(&t, &now);
    }
    auto globals = std::make_shared<Scope>();
    globals->vars = global_functions();
    auto scope = std::make_shared<Scope>();
    scope->parent = globals;
    for (const auto& [name, value] : variables) scope->set(name, value);
    Interpreter interpreter(options.limits, now);
    try {
        return interpreter.render(*body_, scope);
    } catch (const TemplateError& e) {
        return Status::error(e.what());
    } catch (const std::exception& e) {  // e.g. std::bad_alloc on a hostile template
        return Status::errorf("template error: {}", e.what());
    }
}

Value value_from_json(const nlohmann::ordered_json& j) {
    switch (j.type()) {
        case nlohmann::ordered_json::value_t::null:
            return Value::none();
        case nlohmann::ordered_json::value_t::boolean:
            return Value::boolean(j.get<bool>());
        case nlohmann::ordered_json::value_t::number_integer:
            return Value::integer(j.get<int64_t>());
        case nlohmann::ordered_json::value_t::number_unsigned: {
            const auto u = j.get<uint64_t>();
            return u > static_cast<uint64_t>(INT64_MAX) ? Value::number(static_cast<double>(u))
                                                        : Value::integer(static_cast<int64_t>(u));
        }
        case nlohmann::ordered_json::value_t::number_float:
            return Value::number(j.get<double>());
        case nlohmann::ordered_json::value_t::string:
            return Value::string(j.get<std::string>());
        case nlohmann::ordered_json::value_t::array: {
            ValueList items;
            for (const auto& item : j) items.push_back(value_from_json(item));
            return Value::list(std::move(items));
        }
        case nlohmann::ordered_json::value_t::object: {
            auto d = std::make_shared<Dict>();
            for (const auto& [key, value] : j.items()) d->entries.emplace_back(Value::string(key), value_from_json(value));
            return Value::dict(d);
        }
        default:
            return Value::none();
    }
}

}  // namespace frugal::jinja
