// Methods of str, dict and list that templates call, Python's string formatting (`%` and str.format), and the
// globals transformers' chat-template environment provides. Methods that would mutate a list or dict are refused
// the way the ImmutableSandboxedEnvironment refuses them.
#include <fmt/format.h>

#include <cmath>
#include <ctime>

#include "tokenizer/jinja/interpreter.h"
#include "tokenizer/jinja/text.h"

namespace frugal::jinja {
namespace {

std::optional<std::string> opt_string(const Args& a, size_t i, const char* name) {
    const Value* v = a.get(i, name);
    if (!v || v->is_none()) return std::nullopt;
    if (!v->is_string()) throw TemplateError(fmt::format("{} arg must be None or str", name));
    return v->as_string();
}

int64_t opt_int(const Args& a, size_t i, const char* name, int64_t def) {
    const Value* v = a.get(i, name);
    if (!v || v->is_none()) return def;
    if (!v->is_int()) throw TemplateError(fmt::format("'{}' must be an integer", name));
    return v->as_int();
}

const Value& required(const Args& a, size_t i, const char* method) {
    if (i >= a.positional.size()) throw TemplateError(fmt::format("{}() takes at least {} argument(s)", method, i + 1));
    return a.positional[i];
}

ValueList strings(const std::vector<std::string>& parts) {
    ValueList out;
    for (const std::string& p : parts) out.push_back(Value::string(p));
    return out;
}

// Python's str.startswith/endswith with a str or a tuple of str.
bool affix_match(const std::string& s, const Value& affix, bool prefix) {
    auto one = [&](const Value& a) {
        if (!a.is_string()) throw TemplateError("startswith/endswith first arg must be str or a tuple of str");
        const std::string& x = a.as_string();
        if (x.size() > s.size()) return false;
        return prefix ? s.compare(0, x.size(), x) == 0 : s.compare(s.size() - x.size(), x.size(), x) == 0;
    };
    if (affix.is_sequence()) {
        for (const Value& a : affix.items()) {
            if (one(a)) return true;
        }
        return false;
    }
    return one(affix);
}

// str.format: {} {0} {name} {name[key]} {name.attr}, conversions !s !r, {{ and }}. Format specs are not supported
// beyond an empty one.
std::string str_format(Interpreter& in, const std::string& f, const Args& args) {
    std::string out;
    size_t auto_index = 0;
    bool manual = false;
    bool automatic = false;
    for (size_t i = 0; i < f.size(); ++i) {
        const char c = f[i];
        if (c == '}' ) {
            if (i + 1 < f.size() && f[i + 1] == '}') ++i;
            else throw TemplateError("Single '}' encountered in format string");
            out.push_back('}');
            continue;
        }
        if (c != '{') {
            out.push_back(c);
            continue;
        }
        if (i + 1 < f.size() && f[i + 1] == '{') {
            out.push_back('{');
            ++i;
            continue;
        }
        const size_t close = f.find('}', i);
        if (close == std::string::npos) throw TemplateError("Single '{' encountered in format string");
        std::string field = f.substr(i + 1, close - i - 1);
        i = close;
        char conversion = 's';
        if (const size_t bang = field.find('!'); bang != std::string::npos) {
            conversion = bang + 1 < field.size() ? field[bang + 1] : 's';
            field.resize(bang);
        }
        if (const size_t colon = field.find(':'); colon != std::string::npos) {
            if (colon + 1 != field.size()) throw TemplateError("format specs in str.format are not supported");
            field.resize(colon);
        }
        size_t name_end = field.find_first_of(".[");
        const std::string head = field.substr(0, name_end);
        Value v;
        if (head.empty()) {
            if (manual) throw TemplateError("cannot switch from manual field specification to automatic field numbering");
            automatic = true;
            if (auto_index >= args.positional.size()) throw TemplateError("Replacement index out of range for positional args tuple");
            v = args.positional[auto_index++];
        } else if (std::all_of(head.begin(), head.end(), [](char ch) { return ch >= '0' && ch <= '9'; })) {
            if (automatic) throw TemplateError("cannot switch from automatic field numbering to manual field specification");
            manual = true;
            const size_t idx = std::stoul(head);
            if (idx >= args.positional.size()) throw TemplateError("Replacement index out of range for positional args tuple");
            v = args.positional[idx];
        } else {
            const Value* named = nullptr;
            for (const auto& [key, value] : args.named) {
                if (key == head) named = &value;
            }
            if (!named) throw TemplateError(fmt::format("KeyError: '{}'", head));
            v = *named;
        }
        while (name_end != std::string::npos && name_end < field.size()) {
            if (field[name_end] == '.') {
                const size_t next = field.find_first_of(".[", name_end + 1);
                v = in.get_attr(v, field.substr(name_end + 1, next == std::string::npos ? std::string::npos : next - name_end - 1));
                name_end = next;
            } else {
                const size_t rb = field.find(']', name_end);
                if (rb == std::string::npos) throw TemplateError("Missing ']' in format string");
                const std::string key = field.substr(name_end + 1, rb - name_end - 1);
                const bool numeric = !key.empty() && std::all_of(key.begin(), key.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
                v = in.get_item(v, numeric ? Value::integer(std::stoll(key)) : Value::string(key));
                name_end = rb + 1;
            }
        }
        out += conversion == 'r' ? v.repr() : v.str();
    }
    return out;
}

Value string_method(Interpreter& in, const std::string& s, bool markup, const std::string& name, const Args& a) {
    auto same = [markup](std::string r) { return markup ? Value::markup(std::move(r)) : Value::string(std::move(r)); };
    if (name == "upper") return same(py_upper(s));
    if (name == "lower") return same(py_lower(s));
    if (name == "title") return same(py_title(s));
    if (name == "capitalize") return same(py_capitalize(s));
    if (name == "strip") return same(py_strip(s, opt_string(a, 0, "chars"), true, true));
    if (name == "lstrip") return same(py_strip(s, opt_string(a, 0, "chars"), true, false));
    if (name == "rstrip") return same(py_strip(s, opt_string(a, 0, "chars"), false, true));
    if (name == "split" || name == "rsplit") {
        const std::optional<std::string> sep = opt_string(a, 0, "sep");
        if (sep && sep->empty()) throw TemplateError("empty separator");
        const int64_t maxsplit = opt_int(a, 1, "maxsplit", -1);
        return Value::list(strings(name == "split" ? py_split(s, sep, maxsplit) : py_rsplit(s, sep, maxsplit)));
    }
    if (name == "splitlines") return Value::list(strings(py_splitlines(s)));
    if (name == "startswith") return Value::boolean(affix_match(s, required(a, 0, "startswith"), true));
    if (name == "endswith") return Value::boolean(affix_match(s, required(a, 0, "endswith"), false));
    if (name == "replace") {
        return Value::string(py_replace(s, required(a, 0, "replace").str(), required(a, 1, "replace").str(),
                                        opt_int(a, 2, "count", -1)));
    }
    if (name == "find" || name == "rfind" || name == "index" || name == "rindex" || name == "count") {
        const std::string needle = required(a, 0, name.c_str()).str();
        if (name == "count") {
            if (needle.empty()) return Value::integer(static_cast<int64_t>(count_code_points(s)) + 1);
            int64_t n = 0;
            for (size_t p = s.find(needle); p != std::string::npos; p = s.find(needle, p + needle.size())) ++n;
            return Value::integer(n);
        }
        const size_t p = name[0] == 'r' ? s.rfind(needle) : s.find(needle);
        if (p == std::string::npos) {
            if (name == "index" || name == "rindex") throw TemplateError("substring not found");
            return Value::integer(-1);
        }
        return Value::integer(static_cast<int64_t>(count_code_points(s.substr(0, p))));
    }
    if (name == "join") {
        std::string out;
        bool first = true;
        for (const Value& item : in.iterate(required(a, 0, "join"))) {
            if (!item.is_string()) throw TemplateError(fmt::format("sequence item: expected str instance, {} found", item.type_name()));
            if (!first) out += s;
            first = false;
            out += item.as_string();
        }
        return Value::string(std::move(out));
    }
    if (name == "format") return Value::string(str_format(in, s, a));
    auto all_cp = [&](auto pred) {
        const std::vector<int32_t> cps = decode_utf8(s);
        return Value::boolean(!cps.empty() && std::all_of(cps.begin(), cps.end(), pred));
    };
    if (name == "isdigit") return all_cp([](int32_t c) { return c >= '0' && c <= '9'; });
    if (name == "isspace") return all_cp([](int32_t c) { return is_python_space(c); });
    if (name == "isalpha") return all_cp([](int32_t c) { return (c | 32) >= 'a' && (c | 32) <= 'z'; });
    if (name == "isalnum") return all_cp([](int32_t c) { return ((c | 32) >= 'a' && (c | 32) <= 'z') || (c >= '0' && c <= '9'); });
    if (name == "islower") return Value::boolean(py_lower(s) == s && py_upper(s) != s);
    if (name == "isupper") return Value::boolean(py_upper(s) == s && py_lower(s) != s);
    if (name == "partition" || name == "rpartition") {
        const std::string sep = required(a, 0, name.c_str()).str();
        const size_t p = name == "partition" ? s.find(sep) : s.rfind(sep);
        if (p == std::string::npos) {
            return name == "partition" ? Value::tuple(strings({s, "", ""})) : Value::tuple(strings({"", "", s}));
        }
        return Value::tuple(strings({s.substr(0, p), sep, s.substr(p + sep.size())}));
    }
    throw TemplateError(fmt::format("'str' object has no attribute '{}'", name));
}

bool is_string_method(const std::string& n) {
    static const char* kNames[] = {"upper",     "lower",   "title",   "capitalize", "strip",   "lstrip",  "rstrip",
                                   "split",     "rsplit",  "splitlines", "startswith", "endswith", "replace", "find",
                                   "rfind",     "index",   "rindex",  "count",      "join",    "format",  "isdigit",
                                   "isspace",   "isalpha", "isalnum", "islower",    "isupper", "partition", "rpartition"};
    for (const char* k : kNames) {
        if (n == k) return true;
    }
    return false;
}

Value unsafe(const std::string& attr, const std::string& type) {
    return Value::undefined(fmt::format("access to attribute '{}' of '{}' object is unsafe.", attr, type));
}

}  // namespace

Value method_of(Interpreter&, const Value& obj, const std::string& name) {
    if (obj.is_string()) {
        if (!is_string_method(name)) return Value();
        const std::string s = obj.as_string();
        const bool markup = obj.is_markup();
        return Value::callable("str." + name, [s, markup, name](Interpreter& in, const Args& a) {
            return string_method(in, s, markup, name, a);
        });
    }
    if (obj.is_mapping()) {
        const Value self = obj;
        if (name == "get") {
            return Value::callable("dict.get", [self](Interpreter&, const Args& a) {
                const Value& key = required(a, 0, "get");
                const Value* v = self.as_dict().find(key);
                if (v) return *v;
                const Value* def = a.get(1, "default");
                return def ? *def : Value::none();
            });
        }
        if (name == "items" || name == "keys" || name == "values") {
            return Value::callable("dict." + name, [self, name](Interpreter&, const Args&) {
                ValueList out;
                for (const auto& [k, v] : self.as_dict().entries) {
                    out.push_back(name == "items" ? Value::tuple({k, v}) : name == "keys" ? k : v);
                }
                return Value::iterator("dict_" + name, std::move(out));
            });
        }
        if (name == "copy") {
            return Value::callable("dict.copy", [self](Interpreter&, const Args&) {
                return Value::dict(std::make_shared<Dict>(self.as_dict()));
            });
        }
        if (name == "pop" || name == "popitem" || name == "update" || name == "setdefault" || name == "clear") {
            return unsafe(name, "dict");
        }
        return Value();
    }
    if (obj.is_sequence()) {
        const Value self = obj;
        if (name == "count" || name == "index") {
            return Value::callable("list." + name, [self, name](Interpreter&, const Args& a) {
                const Value& x = required(a, 0, name.c_str());
                int64_t n = 0;
                for (size_t i = 0; i < self.items().size(); ++i) {
                    if (!values_equal(self.items()[i], x)) continue;
                    if (name == "index") return Value::integer(static_cast<int64_t>(i));
                    ++n;
                }
                if (name == "index") throw TemplateError(fmt::format("{} is not in list", x.repr()));
                return Value::integer(n);
            });
        }
        if (name == "copy") {
            return Value::callable("list.copy", [self](Interpreter&, const Args&) { return Value::list(self.items()); });
        }
        if (name == "append" || name == "pop" || name == "extend" || name == "insert" || name == "remove" ||
            name == "reverse" || name == "sort" || name == "clear") {
            return unsafe(name, self.type_name());
        }
    }
    return Value();
}

std::string printf_format(const std::string& f, const Args& args) {
    const ValueList& values = args.positional;
    const Value* mapping = values.size() == 1 && values[0].is_mapping() ? &values[0] : nullptr;
    std::string out;
    size_t next = 0;
    for (size_t i = 0; i < f.size(); ++i) {
        if (f[i] != '%') {
            out.push_back(f[i]);
            continue;
        }
        if (++i >= f.size()) throw TemplateError("incomplete format");
        const Value* v = nullptr;
        if (f[i] == '(') {
            const size_t close = f.find(')', i);
            if (close == std::string::npos || !mapping) throw TemplateError("format requires a mapping");
            v = mapping->as_dict().find(f.substr(i + 1, close - i - 1));
            if (!v) throw TemplateError(fmt::format("KeyError: '{}'", f.substr(i + 1, close - i - 1)));
            i = close + 1;
        }
        std::string flags;
        while (i < f.size() && std::string("-+ #0").find(f[i]) != std::string::npos) flags.push_back(f[i++]);
        int width = 0;
        while (i < f.size() && f[i] >= '0' && f[i] <= '9') width = std::min(width * 10 + (f[i++] - '0'), 4096);
        int precision = -1;
        if (i < f.size() && f[i] == '.') {
            precision = 0;
            ++i;
            while (i < f.size() && f[i] >= '0' && f[i] <= '9') precision = std::min(precision * 10 + (f[i++] - '0'), 4096);
        }
        if (i >= f.size()) throw TemplateError("incomplete format");
        const char conv = f[i];
        if (conv == '%') {
            out.push_back('%');
            continue;
        }
        if (!v) {
            if (next >= values.size()) throw TemplateError("not enough arguments for format string");
            v = &values[next++];
        }
        std::string body;
        switch (conv) {
            case 's':
                body = v->str();
                if (precision >= 0) body = encode_utf8(decode_utf8(body), 0, static_cast<size_t>(precision));
                break;
            case 'r':
                body = v->repr();
                break;
            case 'd':
            case 'i':
            case 'x':
            case 'X':
            case 'o': {
                if (!v->is_number()) throw TemplateError(fmt::format("%{} format: a number is required, not {}", conv, v->type_name()));
                const int64_t n = v->is_int() ? v->as_int() : static_cast<int64_t>(v->as_double());
                const uint64_t mag = n < 0 ? 0 - static_cast<uint64_t>(n) : static_cast<uint64_t>(n);
                body = conv == 'x' ? fmt::format("{:x}", mag) : conv == 'X' ? fmt::format("{:X}", mag)
                       : conv == 'o' ? fmt::format("{:o}", mag) : fmt::format("{}", mag);
                if (n < 0) body = "-" + body;
                else if (flags.find('+') != std::string::npos) body = "+" + body;
                break;
            }
            case 'f':
            case 'F':
            case 'e':
            case 'E':
            case 'g':
            case 'G': {
                if (!v->is_number()) throw TemplateError(fmt::format("%{} format: a real number is required, not {}", conv, v->type_name()));
                const std::string spec = fmt::format("{{:{}.{}{}}}", flags.find('+') != std::string::npos ? "+" : "",
                                                     precision < 0 ? 6 : precision, conv);
                body = fmt::format(fmt::runtime(spec), v->as_double());
                break;
            }
            case 'c':
                if (v->is_int()) {
                    append_utf8(body, static_cast<int32_t>(v->as_int()));
                } else {
                    body = v->str();
                }
                break;
            default:
                throw TemplateError(fmt::format("unsupported format character '{}'", conv));
        }
        const auto len = static_cast<int>(count_code_points(body));
        if (width > len) {
            const auto pad = static_cast<size_t>(width - len);
            if (flags.find('-') != std::string::npos) {
                body += std::string(pad, ' ');
            } else if (flags.find('0') != std::string::npos && conv != 's' && conv != 'r') {
                const size_t sign = !body.empty() && (body[0] == '-' || body[0] == '+') ? 1 : 0;
                body.insert(sign, std::string(pad, '0'));
            } else {
                body.insert(0, std::string(pad, ' '));
            }
        }
        out += body;
    }
    if (next < values.size() && !mapping) throw TemplateError("not all arguments converted during string formatting");
    return out;
}

std::vector<std::pair<std::string, Value>> global_functions() {
    std::vector<std::pair<std::string, Value>> g;
    g.emplace_back("range", Value::callable("range", [](Interpreter& in, const Args& a) {
        int64_t start = 0, stop = 0, step = 1;
        auto num = [&](size_t i) {
            const Value& v = a.positional[i];
            if (!v.is_int()) throw TemplateError(fmt::format("'{}' object cannot be interpreted as an integer", v.type_name()));
            return v.as_int();
        };
        if (a.positional.size() == 1) {
            stop = num(0);
        } else if (a.positional.size() == 2 || a.positional.size() == 3) {
            start = num(0);
            stop = num(1);
            if (a.positional.size() == 3) step = num(2);
        } else {
            throw TemplateError("range expected 1 to 3 arguments");
        }
        if (step == 0) throw TemplateError("range() arg 3 must not be zero");
        const double count = std::ceil((static_cast<double>(stop) - static_cast<double>(start)) / static_cast<double>(step));
        if (count > 100000) throw TemplateError("Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
        ValueList out;
        for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) out.push_back(Value::integer(i));
        in.charge(out.size());
        return Value::list(std::move(out));
    }));
    auto make_dict = [](Interpreter& in, const Args& a) {
        auto d = std::make_shared<Dict>();
        if (a.positional.size() > 1) throw TemplateError("dict expected at most 1 argument");
        if (!a.positional.empty()) {
            const Value& src = a.positional[0];
            if (src.is_mapping() || src.is_namespace()) {
                *d = src.as_dict();
            } else {
                for (const Value& pair : in.iterate(src)) {
                    const ValueList kv = in.iterate(pair);
                    if (kv.size() != 2) throw TemplateError("dictionary update sequence element has the wrong length");
                    d->set(kv[0], kv[1]);
                }
            }
        }
        for (const auto& [key, value] : a.named) d->set(Value::string(key), value);
        return d;
    };
    g.emplace_back("dict", Value::callable("dict", [make_dict](Interpreter& in, const Args& a) {
        return Value::dict(make_dict(in, a));
    }));
    g.emplace_back("namespace", Value::callable("namespace", [make_dict](Interpreter& in, const Args& a) {
        auto d = make_dict(in, a);
        for (const auto& [k, v] : d->entries) {
            if (k.is_string() && !k.as_string().empty() && k.as_string()[0] == '_') {
                throw TemplateError("Chat templates cannot store underscore-prefixed attributes on a namespace, but got '" +
                                    k.as_string() + "'");
            }
        }
        in.track_namespace(d);
        return Value::namespace_object(d);
    }));
    g.emplace_back("raise_exception", Value::callable("raise_exception", [](Interpreter&, const Args& a) -> Value {
        throw TemplateError(a.positional.empty() ? "raise_exception() called" : a.positional[0].str());
    }));
    g.emplace_back("strftime_now", Value::callable("strftime_now", [](Interpreter& in, const Args& a) {
        const std::string format = a.positional.empty() ? "" : a.positional[0].str();
        char buf[512];
        const size_t n = std::strftime(buf, sizeof(buf), format.c_str(), &in.now());
        return Value::string(std::string(buf, n));
    }));
    g.emplace_back("joiner", Value::callable("joiner", [](Interpreter&, const Args& a) {
        const std::string sep = a.positional.empty() ? ", " : a.positional[0].str();
        auto used = std::make_shared<bool>(false);
        return Value::callable("joiner", [sep, used](Interpreter&, const Args&) {
            const bool was = *used;
            *used = true;
            return Value::string(was ? sep : "");
        });
    }));
    return g;
}

}  // namespace frugal::jinja
