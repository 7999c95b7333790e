#include "tokenizer/jinja/value.h"

#include <fmt/format.h>
#include <utf8proc.h>

#include <algorithm>
#include <charconv>
#include <cmath>

#include "tokenizer/jinja/text.h"

namespace frugal::jinja {

const Value* Args::get(size_t index, const std::string& name) const {
    for (const auto& [key, value] : named) {
        if (key == name) return &value;
    }
    return index < positional.size() ? &positional[index] : nullptr;
}

Value Value::list(ValueList items) {
    Value v(Kind::kList);
    v.list_ = std::make_shared<const ValueList>(std::move(items));
    return v;
}

Value Value::tuple(ValueList items) {
    Value v(Kind::kTuple);
    v.list_ = std::make_shared<const ValueList>(std::move(items));
    return v;
}

Value Value::dict(std::shared_ptr<Dict> d) {
    Value v(Kind::kDict);
    v.dict_ = std::move(d);
    return v;
}

Value Value::dict() { return dict(std::make_shared<Dict>()); }

Value Value::namespace_object(std::shared_ptr<Dict> d) {
    Value v(Kind::kNamespace);
    v.dict_ = std::move(d);
    return v;
}

Value Value::callable(std::string name, Function fn) {
    Value v(Kind::kCallable);
    v.callable_ = std::make_shared<const Callable>(Callable{std::move(name), std::move(fn)});
    return v;
}

Value Value::iterator(std::string type_name, ValueList items) {
    Value v(Kind::kIterator);
    v.str_ = std::move(type_name);
    v.list_ = std::make_shared<const ValueList>(std::move(items));
    v.consumed_ = std::make_shared<bool>(false);
    return v;
}

ValueList Value::consume() const {
    if (is_dict_view()) return *list_;
    if (*consumed_) return {};
    *consumed_ = true;
    return *list_;
}

bool Value::truthy() const {
    switch (kind_) {
        case Kind::kUndefined:
        case Kind::kNone:
            return false;
        case Kind::kBool:
        case Kind::kInt:
            return int_ != 0;
        case Kind::kFloat:
            return float_ != 0;
        case Kind::kString:
            return !str_.empty();
        case Kind::kList:
        case Kind::kTuple:
            return !list_->empty();
        case Kind::kDict:
            return !dict_->entries.empty();
        case Kind::kNamespace:
        case Kind::kCallable:
            return true;
        case Kind::kIterator:
            return !is_dict_view() || !list_->empty();
    }
    return false;
}

std::string format_float(double d) {
    if (std::isnan(d)) return "nan";
    if (std::isinf(d)) return d < 0 ? "-inf" : "inf";
    char buf[64];
    const auto res = std::to_chars(buf, buf + sizeof(buf), d, std::chars_format::scientific);
    const std::string sci(buf, res.ptr);
    // sci = [-]d[.ddd]e[+-]xx: shortest round-trip digits; Python prints fixed for -4 <= exponent < 16.
    const size_t e = sci.find('e');
    const bool negative = sci[0] == '-';
    std::string digits;
    for (size_t i = negative ? 1 : 0; i < e; ++i) {
        if (sci[i] != '.') digits.push_back(sci[i]);
    }
    const int exponent = std::stoi(sci.substr(e + 1));
    std::string out = negative ? "-" : "";
    if (exponent >= -4 && exponent < 16) {
        if (exponent < 0) {
            out += "0.";
            out.append(static_cast<size_t>(-exponent - 1), '0');
            out += digits;
        } else if (static_cast<int>(digits.size()) <= exponent + 1) {
            out += digits + std::string(static_cast<size_t>(exponent + 1) - digits.size(), '0') + ".0";
        } else {
            out += digits.substr(0, static_cast<size_t>(exponent) + 1) + "." +
                   digits.substr(static_cast<size_t>(exponent) + 1);
        }
        return out;
    }
    out += digits.substr(0, 1);
    if (digits.size() > 1) out += "." + digits.substr(1);
    out += fmt::format("e{}{:02d}", exponent < 0 ? '-' : '+', std::abs(exponent));
    return out;
}

namespace {

// Python's str.isprintable for one code point: everything but separators other than ' ', controls, format,
// surrogate, private-use and unassigned characters.
bool is_printable(int32_t cp) {
    if (cp == ' ') return true;
    switch (utf8proc_category(cp)) {
        case UTF8PROC_CATEGORY_CC:
        case UTF8PROC_CATEGORY_CF:
        case UTF8PROC_CATEGORY_CS:
        case UTF8PROC_CATEGORY_CO:
        case UTF8PROC_CATEGORY_CN:
        case UTF8PROC_CATEGORY_ZL:
        case UTF8PROC_CATEGORY_ZP:
        case UTF8PROC_CATEGORY_ZS:
            return false;
        default:
            return true;
    }
}

std::string repr_string(const std::string& s) {
    const bool has_single = s.find('\'') != std::string::npos;
    const bool has_double = s.find('"') != std::string::npos;
    const char quote = has_single && !has_double ? '"' : '\'';
    std::string out(1, quote);
    for (const int32_t cp : decode_utf8(s)) {
        if (cp == quote || cp == '\\') {
            out.push_back('\\');
            out.push_back(static_cast<char>(cp));
        } else if (cp == '\n') {
            out += "\\n";
        } else if (cp == '\r') {
            out += "\\r";
        } else if (cp == '\t') {
            out += "\\t";
        } else if (cp < 0) {  // a byte that is not UTF-8
            out += fmt::format("\\x{:02x}", -cp);
        } else if (cp < 0x20 || cp == 0x7f) {
            out += fmt::format("\\x{:02x}", cp);
        } else if (cp >= 0x80 && !is_printable(cp)) {
            out += cp < 0x100 ? fmt::format("\\x{:02x}", cp)
                              : cp < 0x10000 ? fmt::format("\\u{:04x}", cp) : fmt::format("\\U{:08x}", cp);
        } else {
            append_utf8(out, cp);
        }
    }
    out.push_back(quote);
    return out;
}

std::string join_repr(const ValueList& items, const char* open, const char* close, bool tuple) {
    std::string out = open;
    for (size_t i = 0; i < items.size(); ++i) {
        if (i) out += ", ";
        out += items[i].repr();
    }
    if (tuple && items.size() == 1) out += ",";
    return out + close;
}

}  // namespace

std::string Value::repr() const {
    switch (kind_) {
        case Kind::kString:
            return repr_string(str_);
        case Kind::kList:
            return join_repr(*list_, "[", "]", false);
        case Kind::kTuple:
            return join_repr(*list_, "(", ")", true);
        case Kind::kDict: {
            std::string out = "{";
            for (size_t i = 0; i < dict_->entries.size(); ++i) {
                if (i) out += ", ";
                out += dict_->entries[i].first.repr() + ": " + dict_->entries[i].second.repr();
            }
            return out + "}";
        }
        default:
            return str();
    }
}

std::string Value::str() const {
    switch (kind_) {
        case Kind::kUndefined:
            return "";
        case Kind::kNone:
            return "None";
        case Kind::kBool:
            return int_ ? "True" : "False";
        case Kind::kInt:
            return std::to_string(int_);
        case Kind::kFloat:
            return format_float(float_);
        case Kind::kString:
            return str_;
        case Kind::kNamespace: {
            std::string out = "<Namespace {";
            for (size_t i = 0; i < dict_->entries.size(); ++i) {
                if (i) out += ", ";
                out += dict_->entries[i].first.repr() + ": " + dict_->entries[i].second.repr();
            }
            return out + "}>";
        }
        case Kind::kCallable:
            return "<function " + callable_->name + ">";
        case Kind::kIterator:
            if (is_dict_view()) return str_ + "(" + join_repr(*list_, "[", "]", false) + ")";
            return "<" + str_ + " object>";
        default:
            return repr();
    }
}

std::string Value::type_name() const {
    switch (kind_) {
        case Kind::kUndefined:
            return "Undefined";
        case Kind::kNone:
            return "NoneType";
        case Kind::kBool:
            return "bool";
        case Kind::kInt:
            return "int";
        case Kind::kFloat:
            return "float";
        case Kind::kString:
            return "str";
        case Kind::kList:
            return "list";
        case Kind::kTuple:
            return "tuple";
        case Kind::kDict:
            return "dict";
        case Kind::kNamespace:
            return "Namespace";
        case Kind::kCallable:
            return "function";
        case Kind::kIterator:
            return str_;
    }
    return "object";
}

const Value* Dict::find(const Value& key) const {
    for (const auto& [k, v] : entries) {
        if (values_equal(k, key)) return &v;
    }
    return nullptr;
}

const Value* Dict::find(const std::string& key) const {
    for (const auto& [k, v] : entries) {
        if (k.is_string() && k.as_string() == key) return &v;
    }
    return nullptr;
}

void Dict::set(const Value& key, Value value) {
    for (auto& [k, v] : entries) {
        if (values_equal(k, key)) {
            v = std::move(value);
            return;
        }
    }
    entries.emplace_back(key, std::move(value));
}

std::string html_escape(const std::string& s) {
    std::string out;
    out.reserve(s.size());
    for (const char c : s) {
        switch (c) {
            case '&': out += "&amp;"; break;
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '"': out += "&#34;"; break;
            case '\'': out += "&#39;"; break;
            default: out.push_back(c);
        }
    }
    return out;
}

bool values_equal(const Value& a, const Value& b) {
    using K = Value::Kind;
    if (a.is_number() && b.is_number()) {
        if (a.kind() == K::kFloat || b.kind() == K::kFloat) return a.as_double() == b.as_double();
        return a.as_int() == b.as_int();
    }
    if (a.kind() != b.kind()) return false;
    switch (a.kind()) {
        case K::kUndefined:
        case K::kNone:
            return true;
        case K::kString:
            return a.as_string() == b.as_string();
        case K::kList:
        case K::kTuple: {
            if (a.items().size() != b.items().size()) return false;
            for (size_t i = 0; i < a.items().size(); ++i) {
                if (!values_equal(a.items()[i], b.items()[i])) return false;
            }
            return true;
        }
        case K::kDict:
        case K::kNamespace: {
            if (&a.as_dict() == &b.as_dict()) return true;
            if (a.kind() == K::kNamespace) return false;
            if (a.as_dict().entries.size() != b.as_dict().entries.size()) return false;
            for (const auto& [k, v] : a.as_dict().entries) {
                const Value* other = b.as_dict().find(k);
                if (!other || !values_equal(v, *other)) return false;
            }
            return true;
        }
        case K::kCallable:
            return &a.as_callable() == &b.as_callable();
        case K::kIterator:
            return &a.items() == &b.items();
        default:
            return false;
    }
}

bool values_less(const Value& a, const Value& b) {
    if (a.is_number() && b.is_number()) {
        if (a.kind() == Value::Kind::kFloat || b.kind() == Value::Kind::kFloat) return a.as_double() < b.as_double();
        return a.as_int() < b.as_int();
    }
    if (a.is_string() && b.is_string()) return a.as_string() < b.as_string();  // UTF-8 order = code point order
    if (a.kind() == b.kind() && a.is_sequence()) {
        const ValueList& x = a.items();
        const ValueList& y = b.items();
        for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
            if (!values_equal(x[i], y[i])) return values_less(x[i], y[i]);
        }
        return x.size() < y.size();
    }
    throw TemplateError(
        fmt::format("'<' not supported between instances of '{}' and '{}'", a.type_name(), b.type_name()));
}

namespace {

void json_string(std::string& out, const std::string& s) {
    out.push_back('"');
    for (const char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        switch (c) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\r':
                out += "\\r";
                break;
            case '\t':
                out += "\\t";
                break;
            case '\b':
                out += "\\b";
                break;
            case '\f':
                out += "\\f";
                break;
            default:
                if (c < 0x20) {
                    out += fmt::format("\\u{:04x}", c);
                } else {
                    out.push_back(ch);
                }
        }
    }
    out.push_back('"');
}

struct JsonWriter {
    int indent;
    std::string item_sep;
    std::string key_sep;
    bool sort_keys;
    std::string out;
    int depth = 0;

    void newline(int level) {
        out.push_back('\n');
        out.append(static_cast<size_t>(indent) * static_cast<size_t>(level), ' ');
    }

    std::string key_text(const Value& k) {
        if (k.is_string()) return k.as_string();
        if (k.is_bool()) return k.as_bool() ? "true" : "false";
        if (k.is_none()) return "null";
        if (k.kind() == Value::Kind::kFloat) return format_float(k.as_double());
        if (k.is_int()) return std::to_string(k.as_int());
        throw TemplateError("keys must be str, int, float, bool or None, not " + k.type_name());
    }

    void write(const Value& v) {
        if (++depth > 512) throw TemplateError("tojson: value nested too deeply");
        switch (v.kind()) {
            case Value::Kind::kNone:
                out += "null";
                break;
            case Value::Kind::kBool:
                out += v.as_bool() ? "true" : "false";
                break;
            case Value::Kind::kInt:
                out += std::to_string(v.as_int());
                break;
            case Value::Kind::kFloat: {
                const double d = v.as_double();
                out += std::isnan(d) ? "NaN" : std::isinf(d) ? (d < 0 ? "-Infinity" : "Infinity") : format_float(d);
                break;
            }
            case Value::Kind::kString:
                json_string(out, v.as_string());
                break;
            case Value::Kind::kList:
            case Value::Kind::kTuple: {
                if (v.items().empty()) {
                    out += "[]";
                    break;
                }
                out.push_back('[');
                for (size_t i = 0; i < v.items().size(); ++i) {
                    if (i) out += item_sep;
                    if (indent >= 0) newline(depth);
                    write(v.items()[i]);
                }
                if (indent >= 0) newline(depth - 1);
                out.push_back(']');
                break;
            }
            case Value::Kind::kDict: {
                if (v.as_dict().entries.empty()) {
                    out += "{}";
                    break;
                }
                std::vector<std::pair<std::string, const Value*>> entries;
                for (const auto& [k, val] : v.as_dict().entries) entries.emplace_back(key_text(k), &val);
                if (sort_keys) {
                    std::stable_sort(entries.begin(), entries.end(),
                                     [](const auto& a, const auto& b) { return a.first < b.first; });
                }
                out.push_back('{');
                for (size_t i = 0; i < entries.size(); ++i) {
                    if (i) out += item_sep;
                    if (indent >= 0) newline(depth);
                    json_string(out, entries[i].first);
                    out += key_sep;
                    write(*entries[i].second);
                }
                if (indent >= 0) newline(depth - 1);
                out.push_back('}');
                break;
            }
            default:
                throw TemplateError("Object of type " + v.type_name() + " is not JSON serializable");
        }
        --depth;
    }
};

}  // namespace

std::string to_json(const Value& v, int indent, const std::string* item_sep, const std::string* key_sep,
                    bool sort_keys) {
    JsonWriter w{indent, item_sep ? *item_sep : (indent >= 0 ? "," : ", "), key_sep ? *key_sep : ": ", sort_keys, {}};
    w.write(v);
    return std::move(w.out);
}

}  // namespace frugal::jinja
