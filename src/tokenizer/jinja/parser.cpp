#include "tokenizer/jinja/parser.h"

#include <fmt/format.h>

#include <charconv>
#include <cstdlib>
#include <initializer_list>

namespace frugal::jinja {
namespace {

class Parser {
public:
    explicit Parser(const std::vector<Token>& tokens) : toks_(tokens) {}

    Body parse_all() {
        Body body = parse_body({});
        if (cur().kind != TokenKind::kEnd) fail(fmt::format("unexpected '{}'", cur().text));
        return body;
    }

private:
    // ---- token helpers ----
    const Token& cur() const { return toks_[pos_]; }
    const Token& peek(size_t ahead = 1) const {
        return toks_[pos_ + ahead < toks_.size() ? pos_ + ahead : toks_.size() - 1];
    }
    void advance() {
        if (pos_ + 1 < toks_.size()) ++pos_;
    }
    bool is_op(const char* op) const { return cur().kind == TokenKind::kOperator && cur().text == op; }
    bool is_name(const char* name) const { return cur().kind == TokenKind::kName && cur().text == name; }
    bool accept_op(const char* op) {
        if (!is_op(op)) return false;
        advance();
        return true;
    }
    bool accept_name(const char* name) {
        if (!is_name(name)) return false;
        advance();
        return true;
    }
    [[noreturn]] void fail(const std::string& what) const {
        throw TemplateError(fmt::format("template line {}: {}", cur().line, what));
    }
    std::string describe(const Token& t) const {
        switch (t.kind) {
            case TokenKind::kEnd:
                return "end of template";
            case TokenKind::kBlockEnd:
                return "'%}'";
            case TokenKind::kVarEnd:
                return "'}}'";
            case TokenKind::kText:
                return "template text";
            default:
                return "'" + t.text + "'";
        }
    }
    void expect_op(const char* op) {
        if (!accept_op(op)) fail(fmt::format("expected '{}', got {}", op, describe(cur())));
    }
    std::string expect_name() {
        if (cur().kind != TokenKind::kName) fail(fmt::format("expected a name, got {}", describe(cur())));
        std::string n = cur().text;
        advance();
        return n;
    }
    void expect_block_end() {
        if (cur().kind != TokenKind::kBlockEnd) fail(fmt::format("expected '%}}', got {}", describe(cur())));
        advance();
    }

    struct DepthGuard {
        explicit DepthGuard(Parser* p) : p_(p) {
            if (++p_->depth_ > kMaxNesting) p_->fail(fmt::format("template nested deeper than {} levels", kMaxNesting));
        }
        ~DepthGuard() { --p_->depth_; }
        Parser* p_;
    };

    ExprPtr make(ExprKind kind) {
        auto e = std::make_unique<Expr>();
        e->kind = kind;
        e->line = cur().line;
        return e;
    }

    // ---- statements ----
    // Parses until a `{% name %}` with name in `ends` (left with the name as the current token) or end of input.
    Body parse_body(std::initializer_list<const char*> ends) {
        DepthGuard guard(this);
        Body body;
        while (cur().kind != TokenKind::kEnd) {
            const Token& t = cur();
            if (t.kind == TokenKind::kText) {
                auto s = std::make_unique<Stmt>();
                s->kind = StmtKind::kText;
                s->line = t.line;
                s->text = t.text;
                body.push_back(std::move(s));
                advance();
            } else if (t.kind == TokenKind::kVarBegin) {
                advance();
                auto s = std::make_unique<Stmt>();
                s->kind = StmtKind::kOutput;
                s->line = t.line;
                s->expr = parse_tuple(true, false);
                if (cur().kind != TokenKind::kVarEnd) fail(fmt::format("expected '}}}}', got {}", describe(cur())));
                advance();
                body.push_back(std::move(s));
            } else if (t.kind == TokenKind::kBlockBegin) {
                const Token& name = peek();
                if (name.kind == TokenKind::kName) {
                    for (const char* end : ends) {
                        if (name.text == end) {
                            advance();
                            return body;
                        }
                    }
                }
                advance();
                body.push_back(parse_statement());
            } else {
                fail(fmt::format("unexpected {}", describe(t)));
            }
        }
        if (ends.size() != 0) {
            std::string names;
            for (const char* end : ends) names += std::string(names.empty() ? "" : " or ") + "'" + end + "'";
            fail(fmt::format("unexpected end of template: expected {}", names));
        }
        return body;
    }

    // The current token is the name of a statement ending its body; checks it and consumes `name %}`.
    void end_statement(const char* name) {
        if (!accept_name(name)) fail(fmt::format("expected '{}'", name));
    }

    StmtPtr parse_statement() {
        auto s = std::make_unique<Stmt>();
        s->line = cur().line;
        const std::string keyword = expect_name();
        if (keyword == "if") {
            s->kind = StmtKind::kIf;
            ExprPtr cond = parse_expression();
            while (true) {
                expect_block_end();
                Body body = parse_body({"elif", "else", "endif"});
                s->branches.emplace_back(std::move(cond), std::move(body));
                if (accept_name("elif")) {
                    cond = parse_expression();
                    continue;
                }
                if (accept_name("else")) {
                    expect_block_end();
                    s->branches.emplace_back(nullptr, parse_body({"endif"}));
                }
                end_statement("endif");
                break;
            }
        } else if (keyword == "for") {
            s->kind = StmtKind::kFor;
            s->targets = parse_names();
            if (!accept_name("in")) fail("expected 'in' in a for loop");
            s->expr = parse_tuple(false, false);
            if (accept_name("if")) s->condition = parse_expression();
            s->recursive = accept_name("recursive");
            expect_block_end();
            s->body = parse_body({"else", "endfor"});
            if (accept_name("else")) {
                expect_block_end();
                s->else_body = parse_body({"endfor"});
            }
            end_statement("endfor");
        } else if (keyword == "set") {
            s->target = parse_set_target();
            if (accept_op("=")) {
                s->kind = StmtKind::kSet;
                s->expr = parse_tuple(true, false);
            } else {
                s->kind = StmtKind::kSetBlock;
                if (is_op("|")) s->expr = parse_filter_chain(nullptr);
                expect_block_end();
                s->body = parse_body({"endset"});
                end_statement("endset");
            }
        } else if (keyword == "macro") {
            s->kind = StmtKind::kMacro;
            s->name = expect_name();
            s->params = parse_params();
            expect_block_end();
            s->body = parse_body({"endmacro"});
            end_statement("endmacro");
            if (cur().kind == TokenKind::kName) advance();  // {% endmacro name %}
        } else if (keyword == "call") {
            s->kind = StmtKind::kCallBlock;
            if (is_op("(")) s->params = parse_params();
            s->expr = parse_expression();
            if (s->expr->kind != ExprKind::kCall) fail("expected a call in {% call %}");
            expect_block_end();
            s->body = parse_body({"endcall"});
            end_statement("endcall");
        } else if (keyword == "filter") {
            s->kind = StmtKind::kFilterBlock;
            s->expr = parse_filter_chain(parse_filter(nullptr));
            expect_block_end();
            s->body = parse_body({"endfilter"});
            end_statement("endfilter");
        } else if (keyword == "break" || keyword == "continue") {
            s->kind = keyword == "break" ? StmtKind::kBreak : StmtKind::kContinue;
        } else if (keyword == "generation") {
            s->kind = StmtKind::kScope;
            expect_block_end();
            s->body = parse_body({"endgeneration"});
            end_statement("endgeneration");
        } else {
            fail(fmt::format("unknown or unsupported statement '{}'", keyword));
        }
        expect_block_end();
        return s;
    }

    std::vector<std::string> parse_names() {
        std::vector<std::string> names;
        const bool paren = accept_op("(");
        do {
            if (paren && is_op(")")) break;
            names.push_back(expect_name());
        } while (accept_op(","));
        if (paren) expect_op(")");
        return names;
    }

    ExprPtr parse_set_target() {
        if (cur().kind == TokenKind::kName && peek().kind == TokenKind::kOperator && peek().text == ".") {
            ExprPtr e = make(ExprKind::kGetAttr);
            ExprPtr base = make(ExprKind::kName);
            base->name = expect_name();
            advance();
            e->name = expect_name();
            e->args.push_back(std::move(base));
            return e;
        }
        ExprPtr tuple = make(ExprKind::kTuple);
        for (const std::string& n : parse_names()) {
            ExprPtr name = make(ExprKind::kName);
            name->name = n;
            tuple->args.push_back(std::move(name));
        }
        if (tuple->args.size() == 1) return std::move(tuple->args[0]);
        return tuple;
    }

    std::vector<std::pair<std::string, ExprPtr>> parse_params() {
        std::vector<std::pair<std::string, ExprPtr>> params;
        expect_op("(");
        while (!is_op(")")) {
            if (!params.empty()) expect_op(",");
            if (is_op(")")) break;
            std::string name = expect_name();
            ExprPtr def = accept_op("=") ? parse_expression() : nullptr;
            params.emplace_back(std::move(name), std::move(def));
        }
        expect_op(")");
        return params;
    }

    // ---- expressions ----
    bool is_tuple_end() const {
        const TokenKind k = cur().kind;
        return k == TokenKind::kVarEnd || k == TokenKind::kBlockEnd || k == TokenKind::kEnd || is_op(")") ||
               is_name("recursive");
    }

    // A comma-separated expression list: one item is that item, several (or a trailing comma) a tuple.
    ExprPtr parse_tuple(bool with_condexpr, bool explicit_parens) {
        ExprPtr tuple = make(ExprKind::kTuple);
        bool is_tuple = false;
        while (true) {
            if (!tuple->args.empty()) expect_op(",");
            if (is_tuple_end()) break;
            tuple->args.push_back(with_condexpr ? parse_expression() : parse_or());
            if (is_op(",")) {
                is_tuple = true;
            } else {
                break;
            }
        }
        if (!is_tuple) {
            if (!tuple->args.empty()) return std::move(tuple->args[0]);
            if (!explicit_parens) fail(fmt::format("expected an expression, got {}", describe(cur())));
        }
        return tuple;
    }

    ExprPtr parse_expression() {
        DepthGuard guard(this);
        ExprPtr expr = parse_or();
        while (accept_name("if")) {
            ExprPtr cond = make(ExprKind::kCondition);
            cond->args.push_back(parse_or());
            cond->args.push_back(std::move(expr));
            cond->args.push_back(accept_name("else") ? parse_expression() : nullptr);
            expr = std::move(cond);
        }
        return expr;
    }

    ExprPtr binary(const std::string& op, ExprPtr left, ExprPtr right) {
        ExprPtr e = make(ExprKind::kBinary);
        e->name = op;
        e->args.push_back(std::move(left));
        e->args.push_back(std::move(right));
        return e;
    }

    ExprPtr parse_or() {
        ExprPtr left = parse_and();
        while (accept_name("or")) left = binary("or", std::move(left), parse_and());
        return left;
    }

    ExprPtr parse_and() {
        ExprPtr left = parse_not();
        while (accept_name("and")) left = binary("and", std::move(left), parse_not());
        return left;
    }

    ExprPtr parse_not() {
        if (accept_name("not")) {
            DepthGuard guard(this);
            ExprPtr e = make(ExprKind::kUnary);
            e->name = "not";
            e->args.push_back(parse_not());
            return e;
        }
        return parse_compare();
    }

    ExprPtr parse_compare() {
        ExprPtr first = parse_math1();
        ExprPtr cmp;
        while (true) {
            std::string op;
            if (cur().kind == TokenKind::kOperator &&
                (cur().text == "==" || cur().text == "!=" || cur().text == "<" || cur().text == ">" ||
                 cur().text == "<=" || cur().text == ">=")) {
                op = cur().text;
                advance();
            } else if (is_name("in")) {
                op = "in";
                advance();
            } else if (is_name("not") && peek().kind == TokenKind::kName && peek().text == "in") {
                op = "not in";
                advance();
                advance();
            } else {
                break;
            }
            if (!cmp) {
                cmp = make(ExprKind::kCompare);
                cmp->args.push_back(std::move(first));
            }
            cmp->ops.push_back(op);
            cmp->args.push_back(parse_math1());
        }
        return cmp ? std::move(cmp) : std::move(first);
    }

    ExprPtr parse_math1() {
        ExprPtr left = parse_concat();
        while (is_op("+") || is_op("-")) {
            const std::string op = cur().text;
            advance();
            left = binary(op, std::move(left), parse_concat());
        }
        return left;
    }

    ExprPtr parse_concat() {
        ExprPtr left = parse_math2();
        while (accept_op("~")) left = binary("~", std::move(left), parse_math2());
        return left;
    }

    ExprPtr parse_math2() {
        ExprPtr left = parse_pow();
        while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
            const std::string op = cur().text;
            advance();
            left = binary(op, std::move(left), parse_pow());
        }
        return left;
    }

    ExprPtr parse_pow() {
        ExprPtr left = parse_unary(true);
        while (accept_op("**")) left = binary("**", std::move(left), parse_unary(true));
        return left;
    }

    ExprPtr parse_unary(bool with_filter) {
        DepthGuard guard(this);
        ExprPtr node;
        if (is_op("-") || is_op("+")) {
            node = make(ExprKind::kUnary);
            node->name = cur().text;
            advance();
            node->args.push_back(parse_unary(false));
        } else {
            node = parse_postfix(parse_primary());
        }
        return with_filter ? parse_filter_expr(std::move(node)) : std::move(node);
    }

    ExprPtr parse_primary() {
        DepthGuard guard(this);
        const Token& t = cur();
        if (t.kind == TokenKind::kName) {
            ExprPtr e = make(ExprKind::kLiteral);
            if (t.text == "true" || t.text == "True") {
                e->literal = Value::boolean(true);
            } else if (t.text == "false" || t.text == "False") {
                e->literal = Value::boolean(false);
            } else if (t.text == "none" || t.text == "None") {
                e->literal = Value::none();
            } else {
                e->kind = ExprKind::kName;
                e->name = t.text;
            }
            advance();
            return e;
        }
        if (t.kind == TokenKind::kString) {
            std::string s;
            while (cur().kind == TokenKind::kString) {  // adjacent literals concatenate
                s += cur().text;
                advance();
            }
            ExprPtr e = make(ExprKind::kLiteral);
            e->literal = Value::string(std::move(s));
            return e;
        }
        if (t.kind == TokenKind::kInteger) {
            ExprPtr e = make(ExprKind::kLiteral);
            int64_t v = 0;
            const auto res = std::from_chars(t.text.data(), t.text.data() + t.text.size(), v);
            e->literal = res.ec == std::errc() ? Value::integer(v) : Value::number(std::strtod(t.text.c_str(), nullptr));
            advance();
            return e;
        }
        if (t.kind == TokenKind::kFloat) {
            ExprPtr e = make(ExprKind::kLiteral);
            e->literal = Value::number(std::strtod(t.text.c_str(), nullptr));
            advance();
            return e;
        }
        if (accept_op("(")) {
            ExprPtr e = parse_tuple(true, true);
            expect_op(")");
            return e;
        }
        if (accept_op("[")) {
            ExprPtr e = make(ExprKind::kList);
            while (!is_op("]")) {
                if (!e->args.empty()) expect_op(",");
                if (is_op("]")) break;
                e->args.push_back(parse_expression());
            }
            expect_op("]");
            return e;
        }
        if (accept_op("{")) {
            ExprPtr e = make(ExprKind::kDict);
            while (!is_op("}")) {
                if (!e->args.empty()) expect_op(",");
                if (is_op("}")) break;
                e->args.push_back(parse_expression());
                expect_op(":");
                e->args.push_back(parse_expression());
            }
            expect_op("}");
            return e;
        }
        fail(fmt::format("unexpected {}", describe(t)));
    }

    ExprPtr parse_postfix(ExprPtr node) {
        while (true) {
            if (accept_op(".")) {
                if (cur().kind == TokenKind::kInteger) {
                    ExprPtr e = make(ExprKind::kGetItem);
                    e->args.push_back(std::move(node));
                    e->args.push_back(parse_primary());
                    node = std::move(e);
                    continue;
                }
                ExprPtr e = make(ExprKind::kGetAttr);
                e->name = expect_name();
                e->args.push_back(std::move(node));
                node = std::move(e);
            } else if (accept_op("[")) {
                node = parse_subscript(std::move(node));
            } else if (is_op("(")) {
                node = parse_call(std::move(node));
            } else {
                return node;
            }
        }
    }

    ExprPtr parse_subscript(ExprPtr target) {
        ExprPtr parts[3];
        int index = 0;
        bool is_slice = false;
        while (!is_op("]")) {
            if (accept_op(":")) {
                is_slice = true;
                if (++index > 2) fail("too many ':' in a slice");
                continue;
            }
            if (parts[index]) fail("expected ':' or ']' in a subscript");
            parts[index] = parse_expression();
        }
        expect_op("]");
        if (!is_slice) {
            if (!parts[0]) fail("empty subscript");
            ExprPtr e = make(ExprKind::kGetItem);
            e->args.push_back(std::move(target));
            e->args.push_back(std::move(parts[0]));
            return e;
        }
        ExprPtr e = make(ExprKind::kSlice);
        e->args.push_back(std::move(target));
        for (ExprPtr& p : parts) e->args.push_back(std::move(p));
        return e;
    }

    // Call arguments into e->args (after whatever is already there) and e->kwargs.
    void parse_call_args(Expr* e) {
        expect_op("(");
        bool first = true;
        while (!is_op(")")) {
            if (!first) expect_op(",");
            first = false;
            if (is_op(")")) break;
            if (is_op("*") || is_op("**")) fail("*args and **kwargs in calls are not supported");
            if (cur().kind == TokenKind::kName && peek().kind == TokenKind::kOperator && peek().text == "=") {
                std::string key = expect_name();
                advance();
                e->kwargs.emplace_back(std::move(key), parse_expression());
            } else {
                if (!e->kwargs.empty()) fail("positional argument after a keyword argument");
                e->args.push_back(parse_expression());
            }
        }
        expect_op(")");
    }

    ExprPtr parse_call(ExprPtr callee) {
        ExprPtr e = make(ExprKind::kCall);
        e->args.push_back(std::move(callee));
        parse_call_args(e.get());
        return e;
    }

    ExprPtr parse_filter(ExprPtr input) {
        ExprPtr e = make(ExprKind::kFilter);
        e->name = expect_name();
        while (accept_op(".")) e->name += "." + expect_name();
        e->args.push_back(std::move(input));
        if (is_op("(")) parse_call_args(e.get());
        return e;
    }

    // `| f | g(x)` applied to input (null: the body of a filter block or set block).
    ExprPtr parse_filter_chain(ExprPtr input) {
        while (accept_op("|")) input = parse_filter(std::move(input));
        return input;
    }

    ExprPtr parse_filter_expr(ExprPtr node) {
        while (true) {
            if (accept_op("|")) {
                node = parse_filter(std::move(node));
            } else if (accept_name("is")) {
                ExprPtr e = make(ExprKind::kTest);
                e->negated = accept_name("not");
                e->name = expect_name();
                while (accept_op(".")) e->name += "." + expect_name();
                e->args.push_back(std::move(node));
                if (is_op("(")) {
                    parse_call_args(e.get());
                } else if ((cur().kind == TokenKind::kName || cur().kind == TokenKind::kString ||
                            cur().kind == TokenKind::kInteger || cur().kind == TokenKind::kFloat || is_op("(") ||
                            is_op("[") || is_op("{")) &&
                           !is_name("else") && !is_name("or") && !is_name("and")) {
                    if (is_name("is")) fail("tests cannot be chained with 'is'");
                    e->args.push_back(parse_postfix(parse_primary()));
                }
                node = std::move(e);
            } else if (is_op("(")) {
                node = parse_call(std::move(node));
            } else {
                return node;
            }
        }
    }

    const std::vector<Token>& toks_;
    size_t pos_ = 0;
    int depth_ = 0;
};

}  // namespace

Result<Body> parse_template(const std::vector<Token>& tokens) {
    try {
        return Parser(tokens).parse_all();
    } catch (const TemplateError& e) {
        return Status::error(e.what());
    }
}

}  // namespace frugal::jinja
