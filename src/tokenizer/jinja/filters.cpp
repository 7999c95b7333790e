// Jinja2's built-in filters and tests, with transformers' tojson (json.dumps, ensure_ascii=False).
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <unordered_map>

#include "tokenizer/jinja/interpreter.h"
#include "tokenizer/jinja/text.h"

namespace frugal::jinja {
namespace {

using FilterFn = Value (*)(Interpreter&, const Value&, const Args&);
using TestFn = bool (*)(Interpreter&, const Value&, const Args&);

const Value* arg(const Args& a, size_t i, const char* name) { return a.get(i, name); }

bool flag(const Args& a, size_t i, const char* name, bool def) {
    const Value* v = arg(a, i, name);
    return v ? v->truthy() : def;
}

int64_t int_arg(const Args& a, size_t i, const char* name, int64_t def) {
    const Value* v = arg(a, i, name);
    if (!v || v->is_none()) return def;
    if (!v->is_number()) throw TemplateError(fmt::format("argument '{}' must be a number, not {}", name, v->type_name()));
    return v->is_int() ? v->as_int() : static_cast<int64_t>(v->as_double());
}

std::string string_arg(const Args& a, size_t i, const char* name, const std::string& def) {
    const Value* v = arg(a, i, name);
    return v && !v->is_none() ? v->str() : def;
}

// Jinja's soft_str: Undefined prints as "".
std::string text_of(const Value& v) { return v.str(); }

Value list_of(Interpreter& in, const Value& v) { return Value::list(in.iterate(v)); }

// `attribute` arguments may be dotted ("function.name") or integer indexes ("0"), as Jinja's make_attrgetter.
Value lookup_attribute(Interpreter& in, const Value& item, const std::string& attribute) {
    Value v = item;
    size_t pos = 0;
    while (true) {
        const size_t dot = attribute.find('.', pos);
        const std::string part = attribute.substr(pos, dot == std::string::npos ? std::string::npos : dot - pos);
        const bool numeric = !part.empty() && std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; });
        v = numeric ? in.get_item(v, Value::integer(std::stoll(part))) : in.get_item(v, Value::string(part));
        if (dot == std::string::npos) return v;
        pos = dot + 1;
    }
}

Value sort_key(const Value& v, bool case_sensitive) {
    if (!case_sensitive && v.is_string()) return Value::string(py_lower(v.as_string()));
    return v;
}

Value f_length(Interpreter&, const Value& v, const Args&) {
    switch (v.kind()) {
        case Value::Kind::kUndefined:
            return Value::integer(0);
        case Value::Kind::kString:
            return Value::integer(static_cast<int64_t>(count_code_points(v.as_string())));
        case Value::Kind::kList:
        case Value::Kind::kTuple:
            return Value::integer(static_cast<int64_t>(v.items().size()));
        case Value::Kind::kDict:
            return Value::integer(static_cast<int64_t>(v.as_dict().entries.size()));
        case Value::Kind::kIterator:
            if (v.is_dict_view()) return Value::integer(static_cast<int64_t>(v.items().size()));
            [[fallthrough]];
        default:
            throw TemplateError(fmt::format("object of type '{}' has no len()", v.type_name()));
    }
}

Value f_default(Interpreter&, const Value& v, const Args& a) {
    const bool boolean = flag(a, 1, "boolean", false);
    if (v.is_undefined() || (boolean && !v.truthy())) {
        const Value* d = arg(a, 0, "default_value");
        return d ? *d : Value::string("");
    }
    return v;
}

Value f_tojson(Interpreter&, const Value& v, const Args& a) {
    const Value* indent_v = arg(a, 1, "indent");
    int indent = -1;
    if (indent_v && !indent_v->is_none()) {
        if (!indent_v->is_int()) throw TemplateError("tojson: indent must be an integer");
        indent = static_cast<int>(std::clamp<int64_t>(indent_v->as_int(), 0, 64));
    }
    std::string item_sep, key_sep;
    const std::string* item_ptr = nullptr;
    const std::string* key_ptr = nullptr;
    if (const Value* seps = arg(a, 2, "separators"); seps && seps->is_sequence() && seps->items().size() == 2) {
        item_sep = seps->items()[0].str();
        key_sep = seps->items()[1].str();
        item_ptr = &item_sep;
        key_ptr = &key_sep;
    }
    std::string json = to_json(v, indent, item_ptr, key_ptr, flag(a, 3, "sort_keys", false));
    if (flag(a, 0, "ensure_ascii", false)) {
        std::string ascii;
        for (const int32_t cp : decode_utf8(json)) {
            if (cp >= 0 && cp < 0x80) {
                ascii.push_back(static_cast<char>(cp));
            } else if (cp >= 0x10000) {
                const int32_t c = cp - 0x10000;
                ascii += fmt::format("\\u{:04x}\\u{:04x}", 0xd800 + (c >> 10), 0xdc00 + (c & 0x3ff));
            } else {
                ascii += fmt::format("\\u{:04x}", cp < 0 ? 0xfffd : cp);
            }
        }
        json = std::move(ascii);
    }
    return Value::string(std::move(json));
}

// Like the input: a Markup stays Markup through the str methods these filters call.
Value same_kind(const Value& input, std::string s) {
    return input.is_markup() ? Value::markup(std::move(s)) : Value::string(std::move(s));
}

Value f_trim(Interpreter&, const Value& v, const Args& a) {
    const Value* chars = arg(a, 0, "chars");
    return same_kind(v, py_strip(text_of(v), chars && !chars->is_none() ? std::optional(chars->str()) : std::nullopt,
                                 true, true));
}

Value f_string(Interpreter&, const Value& v, const Args&) { return same_kind(v, text_of(v)); }
Value f_safe(Interpreter&, const Value& v, const Args&) { return v.is_markup() ? v : Value::markup(text_of(v)); }
Value f_upper(Interpreter&, const Value& v, const Args&) { return same_kind(v, py_upper(text_of(v))); }
Value f_lower(Interpreter&, const Value& v, const Args&) { return same_kind(v, py_lower(text_of(v))); }
Value f_title(Interpreter&, const Value& v, const Args&) { return same_kind(v, py_title(text_of(v))); }
Value f_capitalize(Interpreter&, const Value& v, const Args&) { return same_kind(v, py_capitalize(text_of(v))); }

Value f_escape(Interpreter&, const Value& v, const Args&) {
    return v.is_markup() ? v : Value::markup(html_escape(text_of(v)));
}

Value f_forceescape(Interpreter&, const Value& v, const Args&) { return Value::markup(html_escape(text_of(v))); }

Value f_replace(Interpreter&, const Value& v, const Args& a) {
    const Value* old = arg(a, 0, "old");
    const Value* repl = arg(a, 1, "new");
    if (!old || !repl) throw TemplateError("replace() needs 'old' and 'new'");
    return Value::string(py_replace(text_of(v), old->str(), repl->str(), int_arg(a, 2, "count", -1)));
}

Value f_join(Interpreter& in, const Value& v, const Args& a) {
    const std::string sep = string_arg(a, 0, "d", "");
    const Value* attribute = arg(a, 1, "attribute");
    std::string out;
    bool first = true;
    for (const Value& item : in.iterate(v)) {
        if (!first) out += sep;
        first = false;
        out += attribute && !attribute->is_none() ? text_of(lookup_attribute(in, item, attribute->str())) : text_of(item);
        in.charge(out.size() / 256);
    }
    return Value::string(std::move(out));
}

Value f_list(Interpreter& in, const Value& v, const Args&) { return list_of(in, v); }

Value f_items(Interpreter&, const Value& v, const Args&) {
    if (v.is_undefined()) return Value::iterator("generator", {});
    if (!v.is_mapping()) throw TemplateError("items filter can only be used on a mapping, not " + v.type_name());
    ValueList pairs;
    for (const auto& [k, val] : v.as_dict().entries) pairs.push_back(Value::tuple({k, val}));
    return Value::iterator("generator", std::move(pairs));
}

Value f_dictsort(Interpreter&, const Value& v, const Args& a) {
    if (!v.is_mapping()) throw TemplateError("dictsort filter can only be used on a mapping, not " + v.type_name());
    const bool case_sensitive = flag(a, 0, "case_sensitive", false);
    const std::string by = string_arg(a, 1, "by", "key");
    const bool reverse = flag(a, 2, "reverse", false);
    if (by != "key" && by != "value") throw TemplateError("You can only sort by either \"key\" or \"value\"");
    std::vector<std::pair<Value, Value>> entries = v.as_dict().entries;
    const bool by_key = by == "key";
    std::stable_sort(entries.begin(), entries.end(), [&](const auto& x, const auto& y) {
        const Value kx = sort_key(by_key ? x.first : x.second, case_sensitive);
        const Value ky = sort_key(by_key ? y.first : y.second, case_sensitive);
        return reverse ? values_less(ky, kx) : values_less(kx, ky);
    });
    ValueList pairs;
    for (auto& [k, val] : entries) pairs.push_back(Value::tuple({k, val}));
    return Value::list(std::move(pairs));
}

Value f_first(Interpreter& in, const Value& v, const Args&) {
    const ValueList items = in.iterate(v);
    return items.empty() ? Value::undefined("No first item, sequence was empty.") : items.front();
}

Value f_last(Interpreter& in, const Value& v, const Args&) {
    if (v.is_iterator() && !v.is_dict_view()) throw TemplateError(fmt::format("'{}' object is not reversible", v.type_name()));
    const ValueList items = in.iterate(v);
    return items.empty() ? Value::undefined("No last item, sequence was empty.") : items.back();
}

Value f_reverse(Interpreter& in, const Value& v, const Args&) {
    if (v.is_string()) {
        std::vector<int32_t> cps = decode_utf8(v.as_string());
        std::reverse(cps.begin(), cps.end());
        return Value::string(encode_utf8(cps, 0, cps.size()));
    }
    const bool reversible = v.is_sequence() || v.is_dict_view();
    ValueList items = in.iterate(v);
    std::reverse(items.begin(), items.end());
    return reversible ? Value::iterator("list_reverseiterator", std::move(items)) : Value::list(std::move(items));
}

Value f_sort(Interpreter& in, const Value& v, const Args& a) {
    const bool reverse = flag(a, 0, "reverse", false);
    const bool case_sensitive = flag(a, 1, "case_sensitive", false);
    const Value* attribute = arg(a, 2, "attribute");
    ValueList items = in.iterate(v);
    auto key = [&](const Value& item) {
        return sort_key(attribute && !attribute->is_none() ? lookup_attribute(in, item, attribute->str()) : item,
                        case_sensitive);
    };
    std::stable_sort(items.begin(), items.end(), [&](const Value& x, const Value& y) {
        return reverse ? values_less(key(y), key(x)) : values_less(key(x), key(y));
    });
    return Value::list(std::move(items));
}

Value f_unique(Interpreter& in, const Value& v, const Args& a) {
    const bool case_sensitive = flag(a, 0, "case_sensitive", false);
    const Value* attribute = arg(a, 1, "attribute");
    ValueList out, seen;
    for (const Value& item : in.iterate(v)) {
        const Value k = sort_key(attribute && !attribute->is_none() ? lookup_attribute(in, item, attribute->str()) : item,
                                 case_sensitive);
        if (std::none_of(seen.begin(), seen.end(), [&](const Value& s) { return values_equal(s, k); })) {
            seen.push_back(k);
            out.push_back(item);
        }
        in.charge(seen.size() / 16);
    }
    return Value::iterator("generator", std::move(out));
}

Value min_max(Interpreter& in, const Value& v, const Args& a, bool want_max) {
    const bool case_sensitive = flag(a, 0, "case_sensitive", false);
    const Value* attribute = arg(a, 1, "attribute");
    const ValueList items = in.iterate(v);
    if (items.empty()) return Value::undefined(want_max ? "No aggregated item, sequence was empty." : "No aggregated item, sequence was empty.");
    auto key = [&](const Value& item) {
        return sort_key(attribute && !attribute->is_none() ? lookup_attribute(in, item, attribute->str()) : item,
                        case_sensitive);
    };
    const Value* best = &items[0];
    for (const Value& item : items) {
        if (want_max ? values_less(key(*best), key(item)) : values_less(key(item), key(*best))) best = &item;
    }
    return *best;
}

Value f_max(Interpreter& in, const Value& v, const Args& a) { return min_max(in, v, a, true); }
Value f_min(Interpreter& in, const Value& v, const Args& a) { return min_max(in, v, a, false); }

Value f_sum(Interpreter& in, const Value& v, const Args& a) {
    const Value* attribute = arg(a, 0, "attribute");
    const Value* start = arg(a, 1, "start");
    Value total = start ? *start : Value::integer(0);
    for (const Value& item : in.iterate(v)) {
        const Value x = attribute && !attribute->is_none() ? lookup_attribute(in, item, attribute->str()) : item;
        if (!x.is_number() || !total.is_number()) throw TemplateError("sum() can only add numbers");
        total = total.is_int() && x.is_int() ? Value::integer(total.as_int() + x.as_int())
                                             : Value::number(total.as_double() + x.as_double());
    }
    return total;
}

// map(filter, args...) or map(attribute=name[, default=value]).
Value f_map(Interpreter& in, const Value& v, const Args& a) {
    ValueList out;
    const Value* attribute = nullptr;
    const Value* def = nullptr;
    for (const auto& [key, value] : a.named) {
        if (key == "attribute") attribute = &value;
        if (key == "default") def = &value;
    }
    // Jinja's map/select/reject start with `if value:`: a None or empty input is an empty generator.
    for (const Value& item : v.truthy() ? in.iterate(v) : ValueList{}) {
        if (attribute) {
            Value x = lookup_attribute(in, item, attribute->str());
            out.push_back(x.is_undefined() && def ? *def : x);
            continue;
        }
        if (a.positional.empty()) throw TemplateError("map() needs a filter name or attribute=");
        Args rest{ValueList(a.positional.begin() + 1, a.positional.end()), {}};
        out.push_back(in.apply_filter(a.positional[0].str(), item, rest));
    }
    return Value::iterator("generator", std::move(out));
}

Value select_impl(Interpreter& in, const Value& v, const Args& a, bool by_attribute, bool keep) {
    ValueList out;
    size_t next = 0;
    std::string attribute;
    if (by_attribute) {
        if (a.positional.empty()) throw TemplateError("selectattr/rejectattr need an attribute name");
        attribute = a.positional[next++].str();
    }
    std::string test;
    if (next < a.positional.size()) test = a.positional[next++].str();
    Args rest{ValueList(a.positional.begin() + static_cast<std::ptrdiff_t>(next), a.positional.end()), {}};
    for (const Value& item : v.truthy() ? in.iterate(v) : ValueList{}) {
        const Value x = by_attribute ? lookup_attribute(in, item, attribute) : item;
        const bool pass = test.empty() ? x.truthy() : in.apply_test(test, x, rest);
        if (pass == keep) out.push_back(item);
    }
    return Value::iterator("generator", std::move(out));
}

Value f_select(Interpreter& in, const Value& v, const Args& a) { return select_impl(in, v, a, false, true); }
Value f_reject(Interpreter& in, const Value& v, const Args& a) { return select_impl(in, v, a, false, false); }
Value f_selectattr(Interpreter& in, const Value& v, const Args& a) { return select_impl(in, v, a, true, true); }
Value f_rejectattr(Interpreter& in, const Value& v, const Args& a) { return select_impl(in, v, a, true, false); }

Value f_indent(Interpreter&, const Value& v, const Args& a) {
    const Value* width = arg(a, 0, "width");
    const std::string indention = width && width->is_string() ? width->as_string()
                                                              : std::string(static_cast<size_t>(std::clamp<int64_t>(
                                                                                int_arg(a, 0, "width", 4), 0, 1 << 16)),
                                                                            ' ');
    const bool first = flag(a, 1, "first", false);
    const bool blank = flag(a, 2, "blank", false);
    std::vector<std::string> lines = py_splitlines(text_of(v) + "\n");
    std::string out;
    for (size_t i = 0; i < lines.size(); ++i) {
        if (i > 0) {
            out += "\n";
            if (blank || !lines[i].empty()) out += indention;
        }
        out += lines[i];
    }
    if (first) out = indention + out;
    return same_kind(v, std::move(out));
}

Value f_int(Interpreter&, const Value& v, const Args& a) {
    const Value* def = arg(a, 0, "default");
    const Value fallback = def ? *def : Value::integer(0);
    if (v.is_int()) return Value::integer(v.as_int());
    if (v.kind() == Value::Kind::kFloat) {
        const double d = v.as_double();
        return std::isfinite(d) ? Value::integer(static_cast<int64_t>(d)) : fallback;
    }
    if (!v.is_string()) return fallback;
    const std::string s = py_strip(v.as_string(), std::nullopt, true, true);
    const int64_t base = int_arg(a, 1, "base", 10);
    try {
        size_t used = 0;
        const long long r = std::stoll(s, &used, static_cast<int>(base));
        if (used == s.size()) return Value::integer(r);
        const double d = std::stod(s, &used);  // Jinja falls back to int(float(s))
        if (used == s.size() && std::isfinite(d)) return Value::integer(static_cast<int64_t>(d));
    } catch (const std::exception&) {
    }
    return fallback;
}

Value f_float(Interpreter&, const Value& v, const Args& a) {
    const Value* def = arg(a, 0, "default");
    if (v.is_number()) return Value::number(v.as_double());
    if (v.is_string()) {
        const std::string s = py_strip(v.as_string(), std::nullopt, true, true);
        try {
            size_t used = 0;
            const double d = std::stod(s, &used);
            if (used == s.size()) return Value::number(d);
        } catch (const std::exception&) {
        }
    }
    return def ? *def : Value::number(0);
}

Value f_abs(Interpreter&, const Value& v, const Args&) {
    if (v.is_int()) return Value::integer(v.as_int() < 0 ? -v.as_int() : v.as_int());
    if (v.is_number()) return Value::number(std::fabs(v.as_double()));
    throw TemplateError(fmt::format("bad operand type for abs(): '{}'", v.type_name()));
}

Value f_round(Interpreter&, const Value& v, const Args& a) {
    const int64_t precision = int_arg(a, 0, "precision", 0);
    const std::string method = string_arg(a, 1, "method", "common");
    if (!v.is_number()) throw TemplateError("round filter needs a number");
    if (method == "common" && v.is_int()) return Value::integer(v.as_int());
    const double x = v.as_double();
    if (method == "common" && precision > 0 && std::isfinite(x)) {
        // Python rounds the exact binary value, half to even: printf's %.Nf does the same (round(2.675, 2) is 2.67).
        char buf[512];
        std::snprintf(buf, sizeof(buf), "%.*f", static_cast<int>(std::min<int64_t>(precision, 300)), x);
        return Value::number(std::strtod(buf, nullptr));
    }
    const double scale = std::pow(10.0, static_cast<double>(precision));
    const double scaled = x * scale;
    double r;
    if (method == "floor") {
        r = std::floor(scaled);
    } else if (method == "ceil") {
        r = std::ceil(scaled);
    } else if (method == "common") {
        r = std::nearbyint(scaled);  // half to even, as Python's round()
    } else {
        throw TemplateError("method must be common, ceil or floor");
    }
    return Value::number(r / scale);
}

Value f_center(Interpreter&, const Value& v, const Args& a) {
    const std::string s = text_of(v);
    const int64_t width = int_arg(a, 0, "width", 80);
    const auto len = static_cast<int64_t>(count_code_points(s));
    if (width <= len) return Value::string(s);
    const int64_t pad = std::min<int64_t>(width, 1 << 20) - len;
    const int64_t left = pad / 2 + (pad & width & 1);
    return Value::string(std::string(static_cast<size_t>(left), ' ') + s +
                         std::string(static_cast<size_t>(pad - left), ' '));
}

Value f_wordcount(Interpreter&, const Value& v, const Args&) {
    return Value::integer(static_cast<int64_t>(py_split(text_of(v), std::nullopt, -1).size()));
}

Value f_truncate(Interpreter&, const Value& v, const Args& a) {
    const std::string s = text_of(v);
    const int64_t length = int_arg(a, 0, "length", 255);
    const bool killwords = flag(a, 1, "killwords", false);
    const std::string end = string_arg(a, 2, "end", "...");
    const int64_t leeway = int_arg(a, 3, "leeway", 5);
    const std::vector<int32_t> cps = decode_utf8(s);
    if (static_cast<int64_t>(cps.size()) <= length + leeway) return Value::string(s);
    const auto keep = static_cast<size_t>(std::max<int64_t>(length - static_cast<int64_t>(count_code_points(end)), 0));
    std::string head = encode_utf8(cps, 0, keep);
    if (!killwords) {
        const size_t space = head.rfind(' ');
        if (space != std::string::npos) head.resize(space);
    }
    return Value::string(head + end);
}

Value f_attr(Interpreter& in, const Value& v, const Args& a) {
    // Only attributes, never items: a dict's keys are not found this way.
    const Value* name = arg(a, 0, "name");
    if (!name) throw TemplateError("attr() needs a name");
    if (v.is_undefined()) fail_undefined(v);
    if (v.is_namespace()) return in.get_attr(v, name->str());
    return method_of(in, v, name->str());
}

Value f_batch(Interpreter& in, const Value& v, const Args& a) {
    const int64_t n = int_arg(a, 0, "linecount", 1);
    if (n <= 0) throw TemplateError("batch size must be positive");
    const Value* fill = arg(a, 1, "fill_with");
    ValueList out, cur;
    for (const Value& item : in.iterate(v)) {
        cur.push_back(item);
        if (static_cast<int64_t>(cur.size()) == n) {
            out.push_back(Value::list(std::move(cur)));
            cur.clear();
        }
    }
    if (!cur.empty()) {
        while (fill && !fill->is_none() && static_cast<int64_t>(cur.size()) < n) cur.push_back(*fill);
        out.push_back(Value::list(std::move(cur)));
    }
    return Value::iterator("generator", std::move(out));
}

Value f_format(Interpreter&, const Value& v, const Args& a) { return Value::string(printf_format(text_of(v), a)); }

const std::unordered_map<std::string, FilterFn>& filter_table() {
    static const std::unordered_map<std::string, FilterFn> table = {
        {"abs", f_abs},
        {"attr", f_attr},
        {"batch", f_batch},
        {"capitalize", f_capitalize},
        {"center", f_center},
        {"count", f_length},
        {"d", f_default},
        {"default", f_default},
        {"dictsort", f_dictsort},
        {"e", f_escape},
        {"escape", f_escape},
        {"first", f_first},
        {"float", f_float},
        {"forceescape", f_forceescape},
        {"format", f_format},
        {"indent", f_indent},
        {"int", f_int},
        {"items", f_items},
        {"join", f_join},
        {"last", f_last},
        {"length", f_length},
        {"list", f_list},
        {"lower", f_lower},
        {"map", f_map},
        {"max", f_max},
        {"min", f_min},
        {"reject", f_reject},
        {"rejectattr", f_rejectattr},
        {"replace", f_replace},
        {"reverse", f_reverse},
        {"round", f_round},
        {"safe", f_safe},
        {"select", f_select},
        {"selectattr", f_selectattr},
        {"sort", f_sort},
        {"string", f_string},
        {"sum", f_sum},
        {"title", f_title},
        {"tojson", f_tojson},
        {"trim", f_trim},
        {"truncate", f_truncate},
        {"unique", f_unique},
        {"upper", f_upper},
        {"wordcount", f_wordcount},
    };
    return table;
}

// ---- tests ----
bool t_defined(Interpreter&, const Value& v, const Args&) { return !v.is_undefined(); }
bool t_undefined(Interpreter&, const Value& v, const Args&) { return v.is_undefined(); }
bool t_none(Interpreter&, const Value& v, const Args&) { return v.is_none(); }
bool t_boolean(Interpreter&, const Value& v, const Args&) { return v.is_bool(); }
bool t_true(Interpreter&, const Value& v, const Args&) { return v.is_bool() && v.as_bool(); }
bool t_false(Interpreter&, const Value& v, const Args&) { return v.is_bool() && !v.as_bool(); }
bool t_integer(Interpreter&, const Value& v, const Args&) { return v.kind() == Value::Kind::kInt; }
bool t_float(Interpreter&, const Value& v, const Args&) { return v.kind() == Value::Kind::kFloat; }
bool t_number(Interpreter&, const Value& v, const Args&) { return v.is_number(); }
bool t_string(Interpreter&, const Value& v, const Args&) { return v.is_string(); }
bool t_mapping(Interpreter&, const Value& v, const Args&) { return v.is_mapping(); }
bool t_callable(Interpreter&, const Value& v, const Args&) { return v.is_callable(); }
bool t_escaped(Interpreter&, const Value&, const Args&) { return false; }
bool t_iterable(Interpreter&, const Value& v, const Args&) {
    return v.is_undefined() || v.is_string() || v.is_sequence() || v.is_mapping() || v.is_iterator();
}
bool t_sequence(Interpreter&, const Value& v, const Args&) {
    return v.is_undefined() || v.is_string() || v.is_sequence() || v.is_mapping();
}
bool t_lower(Interpreter&, const Value& v, const Args&) {
    const std::string s = text_of(v);
    return py_lower(s) == s && py_upper(s) != s;
}
bool t_upper(Interpreter&, const Value& v, const Args&) {
    const std::string s = text_of(v);
    return py_upper(s) == s && py_lower(s) != s;
}

const Value& need_arg(const Args& a, const char* test) {
    if (a.positional.empty() && a.named.empty()) throw TemplateError(fmt::format("test '{}' needs an argument", test));
    return a.positional.empty() ? a.named[0].second : a.positional[0];
}

bool t_eq(Interpreter&, const Value& v, const Args& a) { return values_equal(v, need_arg(a, "eq")); }
bool t_ne(Interpreter&, const Value& v, const Args& a) { return !values_equal(v, need_arg(a, "ne")); }
bool t_lt(Interpreter&, const Value& v, const Args& a) { return values_less(v, need_arg(a, "lt")); }
bool t_gt(Interpreter&, const Value& v, const Args& a) { return values_less(need_arg(a, "gt"), v); }
bool t_le(Interpreter&, const Value& v, const Args& a) { return !values_less(need_arg(a, "le"), v); }
bool t_ge(Interpreter&, const Value& v, const Args& a) { return !values_less(v, need_arg(a, "ge")); }
bool t_divisibleby(Interpreter&, const Value& v, const Args& a) {
    const Value& n = need_arg(a, "divisibleby");
    if (!v.is_int() || !n.is_int() || n.as_int() == 0) throw TemplateError("divisibleby needs non-zero integers");
    return v.as_int() % n.as_int() == 0;
}
bool t_even(Interpreter&, const Value& v, const Args&) {
    if (!v.is_int()) throw TemplateError("even needs an integer");
    return v.as_int() % 2 == 0;
}
bool t_odd(Interpreter&, const Value& v, const Args&) {
    if (!v.is_int()) throw TemplateError("odd needs an integer");
    return v.as_int() % 2 != 0;
}
bool t_sameas(Interpreter&, const Value& v, const Args& a) {
    const Value& other = need_arg(a, "sameas");
    if (v.kind() != other.kind()) return false;
    if (v.is_none() || v.is_bool() || v.is_undefined()) return values_equal(v, other);
    if (v.is_sequence()) return &v.items() == &other.items();
    if (v.is_mapping() || v.is_namespace()) return &v.as_dict() == &other.as_dict();
    if (v.is_callable()) return &v.as_callable() == &other.as_callable();
    return values_equal(v, other);
}
bool t_in(Interpreter& in, const Value& v, const Args& a) {
    const Value& seq = need_arg(a, "in");
    if (seq.is_string()) return v.is_string() && seq.as_string().find(v.as_string()) != std::string::npos;
    for (const Value& item : in.iterate(seq)) {
        if (values_equal(item, v)) return true;
    }
    return false;
}
bool t_filter(Interpreter&, const Value& v, const Args&) { return v.is_string() && is_known_filter(v.as_string()); }
bool t_test(Interpreter&, const Value& v, const Args&) { return v.is_string() && is_known_test(v.as_string()); }

const std::unordered_map<std::string, TestFn>& test_table() {
    static const std::unordered_map<std::string, TestFn> table = {
        {"!=", t_ne},
        {"<", t_lt},
        {"<=", t_le},
        {"==", t_eq},
        {">", t_gt},
        {">=", t_ge},
        {"boolean", t_boolean},
        {"callable", t_callable},
        {"defined", t_defined},
        {"divisibleby", t_divisibleby},
        {"eq", t_eq},
        {"equalto", t_eq},
        {"escaped", t_escaped},
        {"even", t_even},
        {"false", t_false},
        {"filter", t_filter},
        {"float", t_float},
        {"ge", t_ge},
        {"greaterthan", t_gt},
        {"gt", t_gt},
        {"in", t_in},
        {"integer", t_integer},
        {"iterable", t_iterable},
        {"le", t_le},
        {"lessthan", t_lt},
        {"lower", t_lower},
        {"lt", t_lt},
        {"mapping", t_mapping},
        {"ne", t_ne},
        {"none", t_none},
        {"number", t_number},
        {"odd", t_odd},
        {"sameas", t_sameas},
        {"sequence", t_sequence},
        {"string", t_string},
        {"test", t_test},
        {"true", t_true},
        {"undefined", t_undefined},
        {"upper", t_upper},
    };
    return table;
}

}  // namespace

bool is_known_filter(const std::string& name) { return filter_table().count(name) != 0; }
bool is_known_test(const std::string& name) { return test_table().count(name) != 0; }

Value call_filter(Interpreter& in, const std::string& name, const Value& input, const Args& args) {
    const auto it = filter_table().find(name);
    if (it == filter_table().end()) throw TemplateError(fmt::format("No filter named '{}' found.", name));
    if (input.is_undefined() && (name == "tojson" || name == "abs" || name == "round" || name == "dictsort")) {
        fail_undefined(input);
    }
    return it->second(in, input, args);
}

bool call_test(Interpreter& in, const std::string& name, const Value& input, const Args& args) {
    const auto it = test_table().find(name);
    if (it == test_table().end()) throw TemplateError(fmt::format("No test named '{}' found.", name));
    return it->second(in, input, args);
}

}  // namespace frugal::jinja
