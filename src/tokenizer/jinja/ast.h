// The parsed form of a template: expression and statement nodes. One tagged struct per tree level keeps the
// interpreter a pair of switches; the fields each kind uses are listed next to it.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tokenizer/jinja/value.h"

namespace frugal::jinja {

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

enum class ExprKind {
    kLiteral,    // literal
    kName,       // name
    kList,       // args: items
    kTuple,      // args: items
    kDict,       // args: key, value, key, value, ...
    kGetAttr,    // args[0].name
    kGetItem,    // args[0][args[1]]
    kSlice,      // args[0][args[1]:args[2]:args[3]] (null = omitted)
    kCall,       // args[0](args[1..], kwargs)
    kFilter,     // args[0] | name(args[1..], kwargs); args[0] is null in a {% filter %} block
    kTest,       // args[0] is [not] name(args[1..])
    kUnary,      // name ("-", "+", "not") args[0]
    kBinary,     // args[0] name args[1]: + - * / // % ** ~ and or
    kCompare,    // args[0] ops[0] args[1] ops[1] args[2] ...: == != < > <= >= in "not in"
    kCondition,  // args[1] if args[0] else args[2] (args[2] null: undefined)
};

struct Expr {
    ExprKind kind;
    int line = 0;
    Value literal;
    std::string name;
    bool negated = false;  // kTest: `is not`
    std::vector<ExprPtr> args;
    std::vector<std::pair<std::string, ExprPtr>> kwargs;
    std::vector<std::string> ops;
};

struct Stmt;
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

enum class StmtKind {
    kText,         // text
    kOutput,       // {{ expr }}
    kIf,           // branches: (condition, body); the else branch has a null condition
    kFor,          // for targets in expr [if condition] [recursive]: body [else: else_body]
    kSet,          // set target = expr (target: a name, a tuple of names, or ns.attr)
    kSetBlock,     // set target [| filter]: body -> target (filter: expr, a kFilter chain with null input)
    kMacro,        // macro name(params): body
    kCallBlock,    // call[(params)] expr: body (expr is the call; `caller` renders body)
    kFilterBlock,  // filter expr: body
    kBreak,
    kContinue,
    kScope,        // a body rendered in place: {% generation %} and the like
};

struct Stmt {
    StmtKind kind;
    int line = 0;
    std::string text;
    ExprPtr expr;
    ExprPtr target;
    ExprPtr condition;
    bool recursive = false;
    std::vector<std::string> targets;
    std::string name;
    std::vector<std::pair<std::string, ExprPtr>> params;  // macro parameters and their defaults (null: none)
    std::vector<std::pair<ExprPtr, Body>> branches;
    Body body;
    Body else_body;
};

}  // namespace frugal::jinja
