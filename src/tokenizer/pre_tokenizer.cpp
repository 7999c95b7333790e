#include "tokenizer/pre_tokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <utility>

#include "tokenizer/hf_unicode.h"
#include "tokenizer/utf8.h"

namespace frugal {
namespace {

// Unicode White_Space, the set llama.cpp's \s means (PCRE2's own \s also has U+180E).
constexpr std::string_view kWhitespaceClass =
    "\\t-\\r \\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}";

// Rewrites \s and \S to explicit classes so matching does not depend on PCRE2's notion of white space.
std::string expand_classes(std::string_view pattern, bool onig_properties) {
    std::string out;
    bool in_class = false;
    for (size_t i = 0; i < pattern.size(); ++i) {
        const char c = pattern[i];
        if (c == '\\' && i + 1 < pattern.size()) {
            const char e = pattern[i + 1];
            // \p{X}: the code points Oniguruma (Hugging Face tokenizers) gives property X beyond PCRE2's tables.
            if (onig_properties && e == 'p' && i + 4 < pattern.size() && pattern[i + 2] == '{' &&
                pattern[i + 4] == '}' && !onig_property_extras(pattern[i + 3]).empty()) {
                const std::string item = std::string(pattern.substr(i, 5)) + onig_property_extras(pattern[i + 3]);
                out += in_class ? item : "[" + item + "]";
                i += 4;
                continue;
            }
            if (e == 's') {
                out += in_class ? std::string(kWhitespaceClass) : "[" + std::string(kWhitespaceClass) + "]";
            } else if (e == 'S' && !in_class) {
                out += "[^" + std::string(kWhitespaceClass) + "]";
            } else {
                out.push_back(c);
                out.push_back(e);
            }
            ++i;
            continue;
        }
        if (c == '[' && !in_class) {
            in_class = true;
            out.push_back(c);
            if (i + 1 < pattern.size() && pattern[i + 1] == '^') out.push_back(pattern[++i]);
            if (i + 1 < pattern.size() && pattern[i + 1] == ']') out.push_back(pattern[++i]);  // literal ']' first
            continue;
        }
        if (c == ']' && in_class) in_class = false;
        out.push_back(c);
    }
    return out;
}

const std::string kContractions = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])";
const std::string kGpt2 = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
const std::string kLlama3 = kContractions +
                            "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+"
                            "|\\s+(?!\\S)|\\s+";
const std::string kQwen2 = kContractions +
                           "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+"
                           "|\\s+(?!\\S)|\\s+";
// Letter ranges and CJK ranges of DeepSeek's tokenizer.json, written as escapes (several of these code points
// have canonical equivalents that an editor might silently normalize).
const std::string kDeepseekLetters =
    "\\x{41}-\\x{5A}\\x{61}-\\x{7A}\\x{B5}\\x{C0}-\\x{D6}\\x{D8}-\\x{F6}\\x{F8}-\\x{1BA}\\x{1BC}-\\x{1BF}"
    "\\x{1C4}-\\x{293}\\x{295}-\\x{2AF}\\x{370}-\\x{373}\\x{376}\\x{377}\\x{37B}-\\x{37D}\\x{37F}\\x{386}"
    "\\x{388}-\\x{38A}\\x{38C}\\x{38E}-\\x{3A1}\\x{3A3}-\\x{3F5}\\x{3F7}-\\x{481}\\x{48A}-\\x{52F}\\x{531}-\\x{556}"
    "\\x{10A0}-\\x{10C5}\\x{13A0}-\\x{13F5}\\x{13F8}-\\x{13FD}\\x{1C90}-\\x{1CBA}\\x{1CBD}-\\x{1CBF}"
    "\\x{1D00}-\\x{1D2B}\\x{1D6B}-\\x{1D77}\\x{1D79}-\\x{1D9A}\\x{1E00}-\\x{1F15}\\x{1F18}-\\x{1F1D}"
    "\\x{1F20}-\\x{1F45}\\x{1F48}-\\x{1F4D}\\x{1F50}-\\x{1F57}\\x{1F59}\\x{1F5B}\\x{1F5D}\\x{1F5F}-\\x{1F7D}"
    "\\x{1F80}-\\x{1FB4}\\x{1FB6}-\\x{1FBC}\\x{1FBE}\\x{1FC2}-\\x{1FC4}\\x{1FC6}-\\x{1FCC}\\x{1FD0}-\\x{1FD3}"
    "\\x{1FD6}-\\x{1FDB}\\x{1FE0}-\\x{1FEC}\\x{1FF2}-\\x{1FF4}\\x{1FF6}-\\x{1FFC}\\x{2102}\\x{2107}"
    "\\x{210A}-\\x{2113}\\x{2115}\\x{2119}-\\x{211D}\\x{2124}\\x{2126}\\x{2128}\\x{212A}-\\x{212D}"
    "\\x{212F}-\\x{2134}\\x{2139}\\x{213C}-\\x{213F}\\x{2145}-\\x{2149}\\x{214E}\\x{2183}\\x{2184}"
    "\\x{2C00}-\\x{2C7B}\\x{2C7E}-\\x{2CE4}\\x{2CEB}-\\x{2CEE}\\x{2CF2}\\x{2CF3}\\x{A640}-\\x{A66D}"
    "\\x{A680}-\\x{A69B}\\x{A722}-\\x{A76F}\\x{A771}-\\x{A787}\\x{A78B}-\\x{A78E}\\x{AB70}-\\x{ABBF}"
    "\\x{FB00}-\\x{FB06}\\x{FB13}-\\x{FB17}\\x{FF21}-\\x{FF3A}\\x{FF41}-\\x{FF5A}\\x{10400}-\\x{1044F}"
    "\\x{104B0}-\\x{104D3}\\x{104D8}-\\x{104FB}\\x{10C80}-\\x{10CB2}\\x{10CC0}-\\x{10CF2}\\x{118A0}-\\x{118DF}"
    "\\x{1E900}-\\x{1E943}";
const std::string kDeepseekCjk = "[\\x{4E00}-\\x{9FA5}\\x{800}-\\x{4E00}\\x{AC00}-\\x{D7FF}]+";

PreTokenizerTraits make_traits(std::vector<std::string> patterns, bool clean_spaces, bool ignore_merges = false,
                               bool add_bos = false) {
    PreTokenizerTraits t;
    t.patterns = std::move(patterns);
    t.clean_spaces = clean_spaces;
    t.ignore_merges = ignore_merges;
    t.add_bos = add_bos;
    return t;
}

bool is_one_of(std::string_view pre, std::initializer_list<std::string_view> names) {
    for (std::string_view n : names) {
        if (pre == n) return true;
    }
    return false;
}

}  // namespace

std::optional<PreTokenizerTraits> pre_tokenizer_traits(std::string_view pre) {
    if (pre == "default") {
        return make_traits({"[\\p{P}$+<=>^~|]+", kGpt2, "\\p{N}+", "[0-9][0-9][0-9]"}, true);
    }
    if (is_one_of(pre, {"llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2"})) {
        return make_traits({kLlama3}, true, /*ignore_merges=*/true, /*add_bos=*/true);
    }
    if (is_one_of(pre, {"dbrx", "smaug-bpe"})) return make_traits({kLlama3}, true);
    if (pre == "deepseek-llm") {
        return make_traits({"[\\r\\n]", "\\s?[" + kDeepseekLetters + "]+",
                            "\\s?[\\x{21}-\\x{2F}\\x{3A}-\\x{7E}\\x{FF01}-\\x{FF0F}\\x{FF1A}-\\x{FF5E}"
                            "\\x{2018}-\\x{201F}\\x{3000}-\\x{3002}]+",
                            "\\s+\\z", kDeepseekCjk, "\\p{N}+"},
                           false);
    }
    if (pre == "deepseek-coder") {
        return make_traits({"[\\r\\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", kDeepseekCjk, "\\p{N}"}, false);
    }
    if (pre == "deepseek-v3") {
        // llama.cpp matches \p{S} through a table whose ASCII part lacks '~', so '~' is neither P nor S here.
        return make_traits({"\\p{N}{1,3}", "[\\x{4E00}-\\x{9FA5}\\x{3040}-\\x{309F}\\x{30A0}-\\x{30FF}]+",
                            "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+"
                            "|(?:[^\\r\\n\\p{L}\\p{P}\\p{S}]|~)?[\\p{L}\\p{M}]+"
                            "| ?(?:(?!~)[\\p{P}\\p{S}])+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
                           false);
    }
    if (pre == "falcon") {
        return make_traits(
            {"[\\p{P}\\$\\+<=>\\^~\\|`]+",
             "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)", "[0-9][0-9][0-9]"},
            true);
    }
    if (is_one_of(pre, {"gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v2-es", "jina-v2-de", "a.x-4.0",
                        "mellum", "modern-bert", "exaone4", "mpt", "olmo", "jais"})) {
        return make_traits({kGpt2}, true);
    }
    if (is_one_of(pre, {"trillion", "granite-docling"})) return make_traits({kGpt2}, false);
    const std::string starcoder = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";
    if (is_one_of(pre, {"starcoder", "refact", "codeshell", "exaone", "minerva-7b"})) {
        return make_traits({"\\p{N}", starcoder}, true);
    }
    if (is_one_of(pre, {"command-r", "smollm"})) return make_traits({"\\p{N}", starcoder}, false);
    if (is_one_of(pre, {"qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2", "hunyuan", "solar-open"})) {
        return make_traits({kQwen2}, false);
    }
    if (is_one_of(pre, {"stablelm2", "megrez"})) return make_traits({kQwen2}, true);
    if (pre == "poro-chat") return make_traits({" ?[^(\\s|.,!?\u2026\u3002\uff0c\u3001\u0964\u06d4\u060c)]+"}, false);
    if (is_one_of(pre, {"bloom", "gpt3-finnish"})) {
        return make_traits({" ?[^(\\s|.,!?\u2026\u3002\uff0c\u3001\u0964\u06d4\u060c)]+"}, true);
    }
    return std::nullopt;
}

struct PreTokenizer::Regex {
    pcre2_code* code = nullptr;
    ~Regex() { pcre2_code_free(code); }
};

PreTokenizer::~PreTokenizer() = default;

Result<std::unique_ptr<PreTokenizer>> PreTokenizer::create(const std::vector<std::string>& patterns,
                                                           bool onig_properties) {
    std::unique_ptr<PreTokenizer> pre(new PreTokenizer());
    for (const std::string& pattern : patterns) {
        const std::string expanded = expand_classes(pattern, onig_properties);
        int error = 0;
        PCRE2_SIZE error_offset = 0;
        auto regex = std::make_unique<Regex>();
        regex->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(expanded.data()), expanded.size(),
                                    PCRE2_UTF | PCRE2_UCP, &error, &error_offset, nullptr);
        if (regex->code == nullptr) {
            PCRE2_UCHAR message[256];
            pcre2_get_error_message(error, message, sizeof(message));
            return Status::errorf("pre-tokenizer regex '{}' does not compile at offset {}: {}", pattern, error_offset,
                                  reinterpret_cast<const char*>(message));
        }
        // JIT is an optimization only: without it (or when it fails) pcre2_match interprets.
        pcre2_jit_compile(regex->code, PCRE2_JIT_COMPLETE);
        pre->regexes_.push_back(std::move(regex));
    }
    return pre;
}

std::vector<std::string> PreTokenizer::split(std::string_view text) const {
    // `clean` is the text llama.cpp tokenizes (bad bytes -> U+FFFD). `subject` is what PCRE2 sees: the same but
    // with surrogate code points (which llama.cpp passes through and PCRE2 rejects) replaced by U+FFFD; both
    // have identical byte offsets.
    const std::vector<uint32_t> cpts = decode_utf8_lenient(text);
    std::string clean;
    std::string subject;
    clean.reserve(text.size());
    subject.reserve(text.size());
    for (uint32_t cpt : cpts) {
        append_utf8(cpt, clean);
        append_utf8(cpt >= 0xD800 && cpt <= 0xDFFF ? kReplacementChar : cpt, subject);
    }

    std::vector<std::pair<size_t, size_t>> fragments;  // [begin, end) byte ranges
    if (!clean.empty()) fragments.emplace_back(0, clean.size());

    pcre2_match_data* match_data = pcre2_match_data_create(1, nullptr);
    pcre2_match_context* match_context = pcre2_match_context_create(nullptr);
    pcre2_jit_stack* jit_stack = pcre2_jit_stack_create(32 * 1024, 4 * 1024 * 1024, nullptr);
    if (jit_stack != nullptr) pcre2_jit_stack_assign(match_context, nullptr, jit_stack);

    for (const auto& regex : regexes_) {
        std::vector<std::pair<size_t, size_t>> next;
        next.reserve(fragments.size() * 2);
        for (const auto& [begin, end] : fragments) {
            const auto* base = reinterpret_cast<PCRE2_SPTR>(subject.data() + begin);
            const size_t length = end - begin;
            size_t emitted = 0;  // fragment-relative end of the last emitted piece
            size_t start = 0;
            while (start < length) {
                int rc = pcre2_match(regex->code, base, length, start, PCRE2_NO_UTF_CHECK, match_data, match_context);
                if (rc < 0 && rc != PCRE2_ERROR_NOMATCH) {
                    // JIT stack exhausted (very long runs): the interpreter keeps its frames on the heap.
                    rc = pcre2_match(regex->code, base, length, start, PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT, match_data,
                                     match_context);
                }
                if (rc < 0) break;  // no match (or an unrecoverable resource error): the rest stays one piece
                const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(match_data);
                const size_t m_begin = ov[0];
                const size_t m_end = ov[1];
                if (m_end <= m_begin) {  // empty match: step over one code point
                    start = m_begin + utf8_sequence_length(static_cast<uint8_t>(subject[begin + m_begin]));
                    continue;
                }
                if (m_begin > emitted) next.emplace_back(begin + emitted, begin + m_begin);
                next.emplace_back(begin + m_begin, begin + m_end);
                emitted = m_end;
                start = m_end;
            }
            if (emitted < length) next.emplace_back(begin + emitted, end);
        }
        fragments = std::move(next);
    }

    if (jit_stack != nullptr) pcre2_jit_stack_free(jit_stack);
    pcre2_match_context_free(match_context);
    pcre2_match_data_free(match_data);

    std::vector<std::string> words;
    words.reserve(fragments.size());
    for (const auto& [begin, end] : fragments) words.emplace_back(clean.substr(begin, end - begin));
    return words;
}

}  // namespace frugal
