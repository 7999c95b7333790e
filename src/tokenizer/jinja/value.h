// The values a chat template computes with: Python's types as Jinja2 sees them (None, bool, int, float, str, list,
// tuple, dict), plus Jinja's Undefined, namespaces and callables. Lists and dicts are immutable once built (chat
// templates run in transformers' ImmutableSandboxedEnvironment), so values share them freely; only a namespace is
// mutated, through `{% set ns.attr = ... %}`, and every copy sees the change, as in Python.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace frugal::jinja {

// A template error raised while rendering (raise_exception, a type error, an undefined value used). Internal to
// the engine: Template::render turns it into a Status.
class TemplateError : public std::runtime_error {
public:
    explicit TemplateError(const std::string& message) : std::runtime_error(message) {}
};

class Value;
class Interpreter;
using ValueList = std::vector<Value>;

struct Dict;

// Arguments of a call: positional, then keyword arguments in the order written.
struct Args {
    std::vector<Value> positional;
    std::vector<std::pair<std::string, Value>> named;

    // The argument called `name`, taken from position `index` or from the keywords; nullptr when absent.
    const Value* get(size_t index, const std::string& name) const;
};

using Function = std::function<Value(Interpreter&, const Args&)>;

struct Callable {
    std::string name;
    Function fn;
};

class Value {
public:
    enum class Kind : uint8_t {
        kUndefined,
        kNone,
        kBool,
        kInt,
        kFloat,
        kString,
        kList,
        kTuple,
        kDict,
        kNamespace,
        kCallable,
        // What Python filters and dict methods return instead of a list: a generator (map, select, ...: truthy,
        // no len(), readable once) or a dict view (dict_items, dict_keys, dict_values: len() works). Neither is
        // JSON-serializable or subscriptable, which templates run into.
        kIterator,
    };

    Value() = default;  // Undefined
    static Value undefined(std::string hint = {}) {
        Value v;
        v.str_ = std::move(hint);
        return v;
    }
    static Value none() { return Value(Kind::kNone); }
    static Value boolean(bool b) {
        Value v(Kind::kBool);
        v.int_ = b;
        return v;
    }
    static Value integer(int64_t i) {
        Value v(Kind::kInt);
        v.int_ = i;
        return v;
    }
    static Value number(double d) {
        Value v(Kind::kFloat);
        v.float_ = d;
        return v;
    }
    static Value string(std::string s) {
        Value v(Kind::kString);
        v.str_ = std::move(s);
        return v;
    }
    // A string marked safe (Jinja's Markup, from |safe or |escape): adding a plain string to it HTML-escapes
    // that string, as markupsafe does; templates rely on it.
    static Value markup(std::string s) {
        Value v = string(std::move(s));
        v.markup_ = true;
        return v;
    }
    static Value list(ValueList items);
    static Value tuple(ValueList items);
    static Value dict(std::shared_ptr<Dict> d);
    static Value dict();
    static Value namespace_object(std::shared_ptr<Dict> d);
    static Value callable(std::string name, Function fn);
    // type_name: "generator", "dict_items", "dict_keys", "dict_values" or "list_reverseiterator".
    static Value iterator(std::string type_name, ValueList items);

    Kind kind() const { return kind_; }
    bool is_undefined() const { return kind_ == Kind::kUndefined; }
    bool is_none() const { return kind_ == Kind::kNone; }
    bool is_bool() const { return kind_ == Kind::kBool; }
    bool is_int() const { return kind_ == Kind::kInt || kind_ == Kind::kBool; }  // Python: bool is an int
    bool is_number() const { return is_int() || kind_ == Kind::kFloat; }
    bool is_string() const { return kind_ == Kind::kString; }
    bool is_markup() const { return kind_ == Kind::kString && markup_; }
    bool is_sequence() const { return kind_ == Kind::kList || kind_ == Kind::kTuple; }
    bool is_mapping() const { return kind_ == Kind::kDict; }
    bool is_namespace() const { return kind_ == Kind::kNamespace; }
    bool is_callable() const { return kind_ == Kind::kCallable; }
    bool is_iterator() const { return kind_ == Kind::kIterator; }
    // A dict view: sized, re-iterable. Other iterators are one-shot and unsized.
    bool is_dict_view() const { return kind_ == Kind::kIterator && str_.rfind("dict_", 0) == 0; }

    bool as_bool() const { return int_ != 0; }
    int64_t as_int() const { return int_; }
    double as_double() const { return kind_ == Kind::kFloat ? float_ : static_cast<double>(int_); }
    const std::string& as_string() const { return str_; }
    // Why an undefined value is undefined ("'x' is undefined"), or "" for a plain missing name.
    const std::string& undefined_hint() const { return str_; }
    const ValueList& items() const { return *list_; }
    // An iterator's items, once: a generator is empty after its first traversal, as in Python.
    ValueList consume() const;
    const Dict& as_dict() const { return *dict_; }
    Dict& mutable_namespace() const { return *dict_; }
    const Callable& as_callable() const { return *callable_; }

    // Python truthiness (Undefined is false).
    bool truthy() const;
    // str(value) as Python prints it ('None', 'True', '1.0', "['a', 1]"); Undefined prints as "".
    std::string str() const;
    // repr(value): strings quoted and escaped the way Python does.
    std::string repr() const;
    // A type name for error messages ("str", "list", "dict", ...).
    std::string type_name() const;

private:
    explicit Value(Kind k) : kind_(k) {}
    Kind kind_ = Kind::kUndefined;
    bool markup_ = false;
    int64_t int_ = 0;
    double float_ = 0;
    std::string str_;
    std::shared_ptr<const ValueList> list_;
    std::shared_ptr<Dict> dict_;
    std::shared_ptr<const Callable> callable_;
    std::shared_ptr<bool> consumed_;  // kIterator generators: shared by copies, as the Python object is
};

// An insertion-ordered dict, as Python's. Lookups are linear: template dicts are small.
struct Dict {
    std::vector<std::pair<Value, Value>> entries;

    const Value* find(const Value& key) const;
    const Value* find(const std::string& key) const;
    void set(const Value& key, Value value);
};

// markupsafe's escape: & < > " ' -> &amp; &lt; &gt; &#34; &#39;.
std::string html_escape(const std::string& s);

// Python ==: 1 == 1.0 == True; containers compare element-wise; Undefined equals only Undefined.
bool values_equal(const Value& a, const Value& b);
// Python <: numbers, strings (by code point), sequences lexicographically; other pairs raise TemplateError.
bool values_less(const Value& a, const Value& b);
// Python's float repr: the shortest string that reads back to the same double ("0.1", "1e-05", "1.0", "inf").
std::string format_float(double d);
// json.dumps(value, ensure_ascii=False, indent, separators, sort_keys) as transformers' tojson filter calls it.
// indent < 0 means None. item_sep/key_sep default to ", " / ": " (",", ": " with an indent).
std::string to_json(const Value& v, int indent, const std::string* item_sep, const std::string* key_sep, bool sort_keys);

}  // namespace frugal::jinja
