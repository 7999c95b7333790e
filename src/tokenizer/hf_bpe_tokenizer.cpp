#include "tokenizer/hf_bpe_tokenizer.h"

#include <nlohmann/json.hpp>
#include <queue>

#include "tokenizer/hf_unicode.h"
#include "tokenizer/utf8.h"

namespace frugal {
namespace {

using json = nlohmann::json;
using Rule = HfBpeTokenizer::Rule;

// Rust's char::is_whitespace (the Unicode White_Space property), which the Strip normalizer uses.
bool is_unicode_space(uint32_t c) {
    return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

// Decodes the code point at text[pos] (text is valid UTF-8 where this is used, else one byte is one unit).
uint32_t code_point_at(std::string_view text, size_t pos, size_t* len) {
    const int n = strict_utf8_sequence_length(text, pos);
    if (n <= 0) {
        *len = 1;
        return static_cast<uint8_t>(text[pos]);
    }
    *len = static_cast<size_t>(n);
    const std::vector<uint32_t> cpts = decode_utf8_lenient(text.substr(pos, *len));
    return cpts.empty() ? kReplacementChar : cpts[0];
}

std::string replace_all(std::string_view text, std::string_view from, std::string_view to) {
    if (from.empty()) return std::string(text);
    std::string out;
    out.reserve(text.size());
    size_t pos = 0;
    for (size_t hit; (hit = text.find(from, pos)) != std::string_view::npos; pos = hit + from.size()) {
        out.append(text.substr(pos, hit - pos)).append(to);
    }
    out.append(text.substr(pos));
    return out;
}

// A Replace pattern: {"String": "..."}; Regex patterns are refused.
Result<std::string> string_pattern(const json& rule, const char* what) {
    const json& pattern = rule.value("pattern", json::object());
    if (pattern.is_object() && pattern.contains("String") && pattern["String"].is_string())
        return pattern["String"].get<std::string>();
    return Status::errorf("{} Replace with a non-String pattern (e.g. Regex) is not supported", what);
}

Result<int> prepend_scheme(const json& m) {
    if (!m.contains("prepend_scheme")) return m.value("add_prefix_space", true) ? 0 : 2;  // before tokenizers 0.19
    const std::string s = m["prepend_scheme"].is_string() ? m["prepend_scheme"].get<std::string>() : "";
    if (s == "always") return 0;
    if (s == "first") return 1;
    if (s == "never") return 2;
    return Status::errorf("Metaspace prepend_scheme '{}' is not supported", s);
}

Result<Rule> metaspace_rule(const json& m, const char* what) {
    Rule r{Rule::Kind::kMetaspace, m.value("replacement", "\xe2\x96\x81"), "", 0, 0, 0, true};
    const std::vector<uint32_t> cpts = decode_utf8_lenient(r.a);
    if (cpts.size() != 1) return Status::errorf("{} Metaspace replacement must be one character", what);
    ASSIGN_OR_RETURN(r.prepend_scheme, prepend_scheme(m));
    r.split = m.value("split", true);
    return r;
}

Status read_normalizer(const json& n, std::vector<Rule>* out) {
    if (n.is_null()) return ok_status();
    if (!n.is_object()) return Status::error("normalizer is not an object");
    const std::string type = n.value("type", "");
    if (type == "Sequence") {
        for (const json& m : n.value("normalizers", json::array())) RETURN_IF_ERROR(read_normalizer(m, out));
    } else if (type == "Prepend") {
        out->push_back({Rule::Kind::kPrepend, n.value("prepend", ""), "", 0, 0, 0, true});
    } else if (type == "Replace") {
        ASSIGN_OR_RETURN(std::string pattern, string_pattern(n, "normalizer"));
        out->push_back({Rule::Kind::kReplace, std::move(pattern), n.value("content", ""), 0, 0, 0, true});
    } else if (type == "Strip") {
        out->push_back({Rule::Kind::kStrip, "", "", n.value("strip_left", true) ? 1 : 0,
                        n.value("strip_right", true) ? 1 : 0, 0, true});
    } else if (type == "Lowercase") {
        out->push_back({Rule::Kind::kLowercase, "", "", 0, 0, 0, true});
    } else if (type == "NFC" || type == "NFD" || type == "NFKC" || type == "NFKD") {
        out->push_back({Rule::Kind::kUnicode, type, "", 0, 0, 0, true});
    } else {
        return Status::errorf("normalizer type '{}' is not supported for SentencePiece-style BPE", type);
    }
    return ok_status();
}

Status read_decoder(const json& d, std::vector<Rule>* out) {
    if (d.is_null()) return ok_status();
    if (!d.is_object()) return Status::error("decoder is not an object");
    const std::string type = d.value("type", "");
    if (type == "Sequence") {
        for (const json& m : d.value("decoders", json::array())) RETURN_IF_ERROR(read_decoder(m, out));
    } else if (type == "Replace") {
        ASSIGN_OR_RETURN(std::string pattern, string_pattern(d, "decoder"));
        out->push_back({Rule::Kind::kReplace, std::move(pattern), d.value("content", ""), 0, 0, 0, true});
    } else if (type == "ByteFallback") {
        out->push_back({Rule::Kind::kByteFallback, "", "", 0, 0, 0, true});
    } else if (type == "Fuse") {
        out->push_back({Rule::Kind::kFuse, "", "", 0, 0, 0, true});
    } else if (type == "Strip") {
        const std::string content = d.value("content", " ");
        const json& start = d.value("start", json(0));
        const json& stop = d.value("stop", json(0));
        if (decode_utf8_lenient(content).size() != 1 || !start.is_number_unsigned() || !stop.is_number_unsigned() ||
            start.get<uint64_t>() > 1024 || stop.get<uint64_t>() > 1024) {
            return Status::error("Strip decoder needs one content character and small non-negative start/stop");
        }
        out->push_back({Rule::Kind::kStrip, content, "", static_cast<int>(start.get<uint64_t>()),
                        static_cast<int>(stop.get<uint64_t>()), 0, true});
    } else if (type == "Metaspace") {
        ASSIGN_OR_RETURN(Rule r, metaspace_rule(d, "decoder"));
        out->push_back(std::move(r));
    } else {
        return Status::errorf("decoder type '{}' is not supported for SentencePiece-style BPE", type);
    }
    return ok_status();
}

// Strips up to `left` leading and `right` trailing copies of the character c from token.
std::string strip_char(const std::string& token, const std::string& c, int left, int right) {
    size_t begin = 0;
    size_t end = token.size();
    for (int i = 0; i < left && begin + c.size() <= end && token.compare(begin, c.size(), c) == 0; ++i)
        begin += c.size();
    for (int i = 0; i < right && end >= begin + c.size() && token.compare(end - c.size(), c.size(), c) == 0; ++i)
        end -= c.size();
    return token.substr(begin, end - begin);
}

// "<0xXX>" (either case of hex digit) -> the byte, else -1 (the ByteFallback decoder's test).
int byte_token_value(const std::string& token) {
    if (token.size() != 6 || token.compare(0, 3, "<0x") != 0 || token[5] != '>') return -1;
    const auto hex = [](char c) {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    };
    const int hi = hex(token[3]), lo = hex(token[4]);
    return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

bool is_valid_utf8(std::string_view s) {
    for (size_t pos = 0; pos < s.size();) {
        const int n = strict_utf8_sequence_length(s, pos);
        if (n <= 0) return false;
        pos += static_cast<size_t>(n);
    }
    return true;
}

}  // namespace

Result<std::unique_ptr<HfBpeTokenizer>> HfBpeTokenizer::create(const Vocab& vocab) {
    // nlohmann's accessors throw on a value of the wrong type; the pipeline comes from a file, so that is bad input.
    try {
        return create_checked(vocab);
    } catch (const json::exception& e) {
        return Status::errorf("a SentencePiece-style pipeline value has the wrong JSON type: {}", e.what());
    }
}

Result<std::unique_ptr<HfBpeTokenizer>> HfBpeTokenizer::create_checked(const Vocab& vocab) {
    const json p = json::parse(vocab.hf_pipeline, nullptr, /*allow_exceptions=*/false);
    if (p.is_discarded() || !p.is_object()) return Status::error("the SentencePiece-style pipeline is not valid JSON");
    std::unique_ptr<HfBpeTokenizer> tok(new HfBpeTokenizer(vocab));
    RETURN_IF_ERROR(read_normalizer(p.value("normalizer", json()), &tok->normalizers_));
    const json& pre = p.value("pre_tokenizer", json());
    if (!pre.is_null()) {
        const std::string type = pre.is_object() ? pre.value("type", "") : "";
        if (type != "Metaspace") {
            return Status::errorf(
                "pre-tokenizer type '{}' is not supported for SentencePiece-style BPE (only "
                "Metaspace or none)",
                type);
        }
        ASSIGN_OR_RETURN(tok->metaspace_, metaspace_rule(pre, "pre-tokenizer"));
        tok->has_metaspace_ = true;
    }
    RETURN_IF_ERROR(read_decoder(p.value("decoder", json()), &tok->decoders_));

    const json& model = p.value("model", json::object());
    if (!model.is_object()) return Status::error("model options are not an object");
    const json& dropout = model.value("dropout", json());
    if (!dropout.is_null() && !(dropout.is_number() && dropout.get<double>() == 0.0))
        return Status::error("BPE dropout is not supported");
    for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
        const json& v = model.value(key, json());
        if (!v.is_null() && !(v.is_string() && v.get<std::string>().empty()))
            return Status::errorf("BPE {} is not supported", key);
    }
    tok->byte_fallback_ = model.value("byte_fallback", false);
    tok->fuse_unk_ = model.value("fuse_unk", false);
    tok->ignore_merges_ = model.value("ignore_merges", false);
    const json& unk = model.value("unk_token", json());
    if (unk.is_string()) {
        tok->unk_id_ = vocab.find(unk.get<std::string>());
        if (tok->unk_id_ == kNullToken)
            return Status::errorf("BPE unk_token '{}' is not in the vocabulary", unk.get<std::string>());
    } else if (!unk.is_null()) {
        return Status::error("BPE unk_token is not a string");
    }

    tok->byte_tokens_.assign(256, kNullToken);
    for (int b = 0; b < 256; ++b) tok->byte_tokens_[b] = vocab.find(fmt::format("<0x{:02X}>", b));

    // Merges as Hugging Face builds its merge map: both halves and their concatenation must be tokens; a pair
    // listed twice keeps its last rank.
    tok->merges_.reserve(vocab.merges.size());
    for (size_t rank = 0; rank < vocab.merges.size(); ++rank) {
        const std::string& m = vocab.merges[rank];
        const size_t space = m.find(' ');
        if (space == std::string::npos || m.find(' ', space + 1) != std::string::npos)
            return Status::errorf("merge {} ('{}') is not two tokens separated by one space", rank, m);
        const std::string_view left = std::string_view(m).substr(0, space);
        const std::string_view right = std::string_view(m).substr(space + 1);
        const int32_t left_id = vocab.find(left), right_id = vocab.find(right);
        const int32_t new_id = vocab.find(std::string(left) + std::string(right));
        if (left_id == kNullToken || right_id == kNullToken || new_id == kNullToken)
            return Status::errorf("merge {} ('{}') uses or makes a token that is not in the vocabulary", rank, m);
        const uint64_t key = (static_cast<uint64_t>(left_id) << 32) | static_cast<uint32_t>(right_id);
        tok->merges_[key] = {static_cast<int32_t>(rank), new_id};
    }
    return tok;
}

bool HfBpeTokenizer::decoder_strips_leading_space() const {
    for (const Rule& r : decoders_) {
        if (r.kind == Rule::Kind::kStrip && r.a == " " && r.left > 0) return true;
        if (r.kind == Rule::Kind::kMetaspace && r.prepend_scheme != 2) return true;
    }
    return false;
}

std::string HfBpeTokenizer::normalize(std::string_view text) const {
    std::string s(text);
    for (const Rule& r : normalizers_) {
        switch (r.kind) {
            case Rule::Kind::kPrepend:
                if (!s.empty()) s.insert(0, r.a);
                break;
            case Rule::Kind::kReplace:
                s = replace_all(s, r.a, r.b);
                break;
            case Rule::Kind::kStrip: {
                size_t begin = 0, end = s.size(), len = 0;
                if (r.left) {
                    while (begin < end && is_unicode_space(code_point_at(s, begin, &len))) begin += len;
                }
                if (r.right) {
                    while (end > begin) {
                        size_t start = end - 1;
                        while (start > begin && (static_cast<uint8_t>(s[start]) & 0xC0) == 0x80) --start;
                        if (!is_unicode_space(code_point_at(s, start, &len)) || start + len != end) break;
                        end = start;
                    }
                }
                s = s.substr(begin, end - begin);
                break;
            }
            case Rule::Kind::kLowercase:
                s = hf_lowercase(s);
                break;
            case Rule::Kind::kUnicode:
                s = hf_unicode_normalize(s, r.a);
                break;
            default:
                break;
        }
    }
    return s;
}

void HfBpeTokenizer::encode(std::string_view text, bool at_input_start, std::vector<int32_t>& out) const {
    std::string s = normalize(text);
    if (!has_metaspace_) {
        encode_word(s, out);
        return;
    }
    s = replace_all(s, " ", metaspace_.a);
    const bool prepend = metaspace_.prepend_scheme == 0 || (metaspace_.prepend_scheme == 1 && at_input_start);
    if (prepend && !s.empty() && s.compare(0, metaspace_.a.size(), metaspace_.a) != 0) s.insert(0, metaspace_.a);
    if (!metaspace_.split) {
        encode_word(s, out);
        return;
    }
    // Split before each replacement character (Hugging Face's MergedWithNext).
    size_t start = 0;
    for (size_t hit = s.find(metaspace_.a, 1); hit != std::string::npos; hit = s.find(metaspace_.a, hit + 1)) {
        encode_word(std::string_view(s).substr(start, hit - start), out);
        start = hit;
    }
    encode_word(std::string_view(s).substr(start), out);
}

void HfBpeTokenizer::encode_word(std::string_view word, std::vector<int32_t>& out) const {
    if (word.empty()) return;
    if (ignore_merges_) {
        if (const int32_t id = vocab_.find(word); id != kNullToken) {
            out.push_back(id);
            return;
        }
    }
    struct Symbol {
        int32_t id;
        int prev;
        int next;
        bool removed;
    };
    std::vector<Symbol> symbols;
    symbols.reserve(word.size());
    const auto add = [&](int32_t id) {
        const int index = static_cast<int>(symbols.size());
        if (index > 0) symbols.back().next = index;
        symbols.push_back({id, index - 1, -1, false});
    };
    bool pending_unk = false;  // a (possibly fused) unknown token not yet added, as Hugging Face keeps it
    for (size_t pos = 0; pos < word.size();) {
        const size_t n = std::min(utf8_sequence_length(static_cast<uint8_t>(word[pos])), word.size() - pos);
        const std::string_view c = word.substr(pos, n);
        pos += n;
        if (const int32_t id = vocab_.find(c); id != kNullToken) {
            if (pending_unk) add(unk_id_);
            pending_unk = false;
            add(id);
            continue;
        }
        if (byte_fallback_) {
            bool all = true;
            for (char b : c) all = all && byte_tokens_[static_cast<uint8_t>(b)] != kNullToken;
            if (all) {
                for (char b : c) add(byte_tokens_[static_cast<uint8_t>(b)]);
                continue;
            }
        }
        if (unk_id_ == kNullToken) continue;  // no unknown token: the character is dropped
        if (pending_unk && !fuse_unk_) add(unk_id_);
        pending_unk = true;
    }
    if (pending_unk) add(unk_id_);

    struct Candidate {
        int32_t rank;
        int pos;
        int32_t new_id;
    };
    // Lowest rank first, then leftmost.
    const auto later = [](const Candidate& l, const Candidate& r) {
        return l.rank != r.rank ? l.rank > r.rank : l.pos > r.pos;
    };
    std::priority_queue<Candidate, std::vector<Candidate>, decltype(later)> queue(later);
    const auto find_merge = [&](int32_t left, int32_t right) -> const Merge* {
        const auto it = merges_.find((static_cast<uint64_t>(left) << 32) | static_cast<uint32_t>(right));
        return it == merges_.end() ? nullptr : &it->second;
    };
    for (int i = 0; i + 1 < static_cast<int>(symbols.size()); ++i) {
        if (const Merge* m = find_merge(symbols[i].id, symbols[i + 1].id)) queue.push({m->rank, i, m->new_id});
    }
    while (!queue.empty()) {
        const Candidate top = queue.top();
        queue.pop();
        Symbol& left = symbols[top.pos];
        if (left.removed || left.next < 0) continue;
        Symbol& right = symbols[left.next];
        const Merge* m = find_merge(left.id, right.id);
        if (m == nullptr || m->new_id != top.new_id) continue;  // stale
        left.id = top.new_id;
        right.removed = true;
        left.next = right.next;
        if (right.next >= 0) symbols[right.next].prev = top.pos;
        if (left.prev >= 0) {
            if (const Merge* pm = find_merge(symbols[left.prev].id, left.id))
                queue.push({pm->rank, left.prev, pm->new_id});
        }
        if (left.next >= 0) {
            if (const Merge* nm = find_merge(left.id, symbols[left.next].id))
                queue.push({nm->rank, top.pos, nm->new_id});
        }
    }
    for (const Symbol& s : symbols) {
        if (!s.removed) out.push_back(s.id);
    }
}

std::string HfBpeTokenizer::decode(std::vector<std::string> tokens) const {
    static const std::string kReplacement = cpt_to_utf8(kReplacementChar);
    for (const Rule& r : decoders_) {
        switch (r.kind) {
            case Rule::Kind::kReplace:
                for (std::string& t : tokens) t = replace_all(t, r.a, r.b);
                break;
            case Rule::Kind::kByteFallback: {
                std::vector<std::string> next;
                std::string bytes;
                size_t num_bytes = 0;
                const auto flush = [&] {
                    if (num_bytes == 0) return;
                    if (is_valid_utf8(bytes)) {
                        next.push_back(bytes);
                    } else {
                        for (size_t i = 0; i < num_bytes; ++i) next.push_back(kReplacement);
                    }
                    bytes.clear();
                    num_bytes = 0;
                };
                for (std::string& t : tokens) {
                    if (const int b = byte_token_value(t); b >= 0) {
                        bytes.push_back(static_cast<char>(b));
                        ++num_bytes;
                        continue;
                    }
                    flush();
                    next.push_back(std::move(t));
                }
                flush();
                tokens = std::move(next);
                break;
            }
            case Rule::Kind::kFuse: {
                std::string all;
                for (const std::string& t : tokens) all += t;
                tokens.assign(1, std::move(all));
                break;
            }
            case Rule::Kind::kStrip:
                for (std::string& t : tokens) t = strip_char(t, r.a, r.left, r.right);
                break;
            case Rule::Kind::kMetaspace:
                // Every replacement character becomes a space, except in the first token, where (unless the
                // scheme is "never") they are dropped.
                for (size_t i = 0; i < tokens.size(); ++i)
                    tokens[i] = replace_all(tokens[i], r.a, i == 0 && r.prepend_scheme != 2 ? "" : " ");
                break;
            default:
                break;
        }
    }
    // Without a decoder Hugging Face joins the token texts with spaces.
    std::string text;
    for (const std::string& t : tokens) {
        if (decoders_.empty() && !text.empty()) text.push_back(' ');
        text += t;
    }
    return text;
}

}  // namespace frugal
