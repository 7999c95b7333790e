#include "tokenizer/vocab.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <span>

#include "core/check.h"

namespace frugal {
namespace {

bool text_in(std::string_view text, std::span<const std::string_view> list) {
    return std::find(list.begin(), list.end(), text) != list.end();
}

uint32_t attr_from_type(TokenType type) {
    switch (type) {
        case TokenType::kNormal:
            return kAttrNormal;
        case TokenType::kUnknown:
            return kAttrUnknown;
        case TokenType::kControl:
            return kAttrControl;
        case TokenType::kUserDefined:
            return kAttrUserDefined;
        case TokenType::kUnused:
            return kAttrUnused;
        case TokenType::kByte:
            return kAttrByte;
        case TokenType::kUndefined:
            return kAttrUndefined;
    }
    return kAttrUndefined;
}

// Texts llama.cpp recognizes for each special role when the metadata does not name the id. A token found this
// way is forced to be a control token, which matters for parse_special=false (control tokens stay text).
constexpr std::string_view kEotTexts[] = {"<|eot_id|>",
                                          "<|im_end|>",
                                          "<|end|>",
                                          "<end_of_turn>",
                                          "<|endoftext|>",
                                          "<|end_of_text|>",
                                          "<EOT>",
                                          "_<EOT>",
                                          "[EOT]",
                                          "<\xef\xbd\x9c"
                                          "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>",
                                          "<end_of_utterance>"};
constexpr std::string_view kEomTexts[] = {"<|eom_id|>"};
constexpr std::string_view kFimPreTexts[] = {"<|fim_prefix|>",
                                             "<fim-prefix>",
                                             "<fim_prefix>",
                                             "<\xef\xbd\x9c"
                                             "fim\xe2\x96\x81"
                                             "begin\xef\xbd\x9c>",
                                             "<PRE>",
                                             "\xe2\x96\x81<PRE>",
                                             "<|code_prefix|>",
                                             "<|prefix|>"};
constexpr std::string_view kFimSufTexts[] = {"<|fim_suffix|>",
                                             "<fim-suffix>",
                                             "<fim_suffix>",
                                             "<\xef\xbd\x9c"
                                             "fim\xe2\x96\x81hole\xef\xbd\x9c>",
                                             "<SUF>",
                                             "\xe2\x96\x81<SUF>",
                                             "<|code_suffix|>",
                                             "<|suffix|>"};
constexpr std::string_view kFimMidTexts[] = {"<|fim_middle|>",
                                             "<fim-middle>",
                                             "<fim_middle>",
                                             "<\xef\xbd\x9c"
                                             "fim\xe2\x96\x81"
                                             "end\xef\xbd\x9c>",
                                             "<MID>",
                                             "\xe2\x96\x81<MID>",
                                             "<|code_middle|>",
                                             "<|middle|>"};
constexpr std::string_view kFimPadTexts[] = {"<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"};
constexpr std::string_view kFimRepTexts[] = {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"};
constexpr std::string_view kFimSepTexts[] = {"<|file_sep|>"};
constexpr std::string_view kAlwaysRenderedTexts[] = {"<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"};
constexpr std::string_view kEogTexts[] = {"<|eot_id|>",
                                          "<|im_end|>",
                                          "<|end|>",
                                          "<|return|>",
                                          "<|call|>",
                                          "<|flush|>",
                                          "<|calls|>",
                                          "<end_of_turn>",
                                          "<|endoftext|>",
                                          "</s>",
                                          "<|eom_id|>",
                                          "<EOT>",
                                          "_<EOT>",
                                          "[EOT]",
                                          "[EOS]",
                                          "<|end_of_text|>",
                                          "<end_of_utterance>",
                                          "<eos>",
                                          "<turn|>",
                                          "<|tool_response>",
                                          "<\xef\xbd\x9c"
                                          "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>",
                                          "[e~["};

}  // namespace

int32_t Vocab::merge_rank(std::string_view left, std::string_view right) const {
    std::string key;
    key.reserve(left.size() + right.size() + 1);
    key.append(left).push_back(' ');
    key.append(right);
    auto it = merge_ranks.find(key);
    return it == merge_ranks.end() ? -1 : it->second;
}

int32_t Vocab::byte_to_token(uint8_t b) const {
    char buf[8];
    std::snprintf(buf, sizeof(buf), "<0x%02X>", b);
    int32_t id = find(buf);
    if (id != kNullToken) return id;
    id = find(std::string_view(reinterpret_cast<const char*>(&b), 1));
    return id != kNullToken ? id : unk_id;
}

uint8_t Vocab::token_to_byte(int32_t id) const {
    CHECK(id >= 0 && id < num_tokens()) << "token id " << id;
    const std::string& text = tokens[id].text;
    if (text.size() == 6 && text.compare(0, 3, "<0x") == 0) {
        return static_cast<uint8_t>(std::strtol(text.substr(3, 2).c_str(), nullptr, 16));
    }
    return text.empty() ? 0 : static_cast<uint8_t>(text[0]);
}

void apply_vocab_type_defaults(Vocab& vocab) {
    if (vocab.type == VocabType::kSpm) {
        vocab.bos_id = 1;
        vocab.eos_id = 2;
        vocab.unk_id = 0;
        vocab.add_space_prefix = true;
        vocab.add_bos = true;
        vocab.add_eos = false;
        vocab.clean_spaces = false;
    } else {
        vocab.bos_id = 11;
        vocab.eos_id = 11;
        vocab.unk_id = kNullToken;
        vocab.add_space_prefix = false;
        vocab.add_bos = false;
        vocab.add_eos = false;
        vocab.clean_spaces = true;
    }
}

Status Vocab::finalize() {
    const int32_t n = num_tokens();
    if (n == 0) return Status::error("vocabulary has no tokens");

    token_to_id.clear();
    token_to_id.reserve(tokens.size());
    for (int32_t id = 0; id < n; ++id) {
        TokenData& t = tokens[id];
        if (t.text.empty()) t.text = "[EMPTY_" + std::to_string(id) + "]";
        auto [it, inserted] = token_to_id.emplace(t.text, id);
        if (!inserted) {
            return Status::errorf("duplicate token in vocabulary: '{}' has ids {} and {}", t.text, it->second, id);
        }
        t.attr = attr_from_type(t.type) | (hf_attributes ? t.attr & (kAttrLstrip | kAttrRstrip) : 0u);
    }

    merge_ranks.clear();
    merge_ranks.reserve(merges.size());
    for (size_t rank = 0; rank < merges.size(); ++rank) {
        const std::string& m = merges[rank];
        const size_t space = m.size() > 1 ? m.find(' ', 1) : std::string::npos;
        if (space == std::string::npos) continue;  // malformed merge: llama.cpp keeps an unreachable entry
        merge_ranks.emplace(m, static_cast<int32_t>(rank));
    }

    for (int32_t* id : {&bos_id, &eos_id, &eot_id, &eom_id, &unk_id, &sep_id, &pad_id, &mask_id, &fim_pre_id,
                        &fim_suf_id, &fim_mid_id, &fim_pad_id, &fim_rep_id, &fim_sep_id}) {
        if (*id >= n) *id = kNullToken;
    }
    if (add_bos && bos_id == kNullToken) return Status::error("tokenizer.ggml.add_bos_token is true, but no BOS id");
    if (add_eos && eos_id == kNullToken) return Status::error("tokenizer.ggml.add_eos_token is true, but no EOS id");

    // Text-based detection of special roles, in id order (llama.cpp walks a hash map; ids make it deterministic).
    const auto detect = [&](int32_t& role_id, std::span<const std::string_view> texts) {
        if (role_id != kNullToken) return;
        for (int32_t id = 0; id < n; ++id) {
            if (text_in(tokens[id].text, texts)) {
                role_id = id;
                if (!hf_attributes) tokens[id].attr |= kAttrControl;
                return;
            }
        }
    };
    detect(eot_id, kEotTexts);
    detect(eom_id, kEomTexts);
    detect(fim_pre_id, kFimPreTexts);
    detect(fim_suf_id, kFimSufTexts);
    detect(fim_mid_id, kFimMidTexts);
    detect(fim_pad_id, kFimPadTexts);
    detect(fim_rep_id, kFimRepTexts);
    detect(fim_sep_id, kFimSepTexts);

    for (TokenData& t : tokens) {
        if ((t.attr & kAttrControl) && t.text.find("unused") != std::string::npos) t.attr |= kAttrUnused;
    }

    eog.assign(n, false);
    for (int32_t id : {fim_pad_id, fim_rep_id, fim_sep_id}) {
        if (id != kNullToken) eog[id] = true;
    }
    for (int32_t id = 0; id < n; ++id) {
        if (text_in(tokens[id].text, kEogTexts)) {
            eog[id] = true;
            if (!hf_attributes) tokens[id].attr |= kAttrControl;
        }
    }
    // gpt-oss: these structural tokens are always rendered.
    for (TokenData& t : tokens) {
        if (text_in(t.text, kAlwaysRenderedTexts) && !hf_attributes) t.attr = kAttrUserDefined;
    }
    for (int32_t id : {eos_id, eot_id, eom_id}) {
        if (id != kNullToken) eog[id] = true;
    }
    // o200k_harmony / solar-open: "<|end|>" ends a message, not the generation.
    {
        const int32_t ret = find("<|return|>"), call = find("<|call|>"), calls = find("<|calls|>");
        const int32_t flush = find("<|flush|>"), end = find("<|end|>");
        const auto is_eog_id = [&](int32_t id) { return id != kNullToken && eog[id]; };
        const bool has_call = is_eog_id(call) || is_eog_id(calls);
        if (is_eog_id(end) && ((is_eog_id(ret) && has_call) || (has_call && is_eog_id(flush)))) {
            eog[end] = false;
            if (!hf_attributes) tokens[end].attr = kAttrUserDefined;
        }
    }
    // Gemma 4 / PaddleOCR: "</s>" is an ordinary token there.
    {
        const int32_t tool_response = find("<|tool_response>"), s = find("</s>");
        if (tool_response != kNullToken && eog[tool_response] && s != kNullToken && eog[s]) {
            eog[s] = false;
            if (!hf_attributes) tokens[s].attr = kAttrNormal;
        }
    }

    special_tokens.clear();
    for (int32_t id = 0; id < n; ++id) {
        if (tokens[id].attr & (kAttrControl | kAttrUserDefined | kAttrUnknown)) special_tokens.push_back(id);
    }
    std::stable_sort(special_tokens.begin(), special_tokens.end(),
                     [&](int32_t a, int32_t b) { return tokens[a].text.size() > tokens[b].text.size(); });

    // Per-model attributes llama.cpp sets by name (Phi-3 special tokens swallow the whitespace after them).
    std::string lower_name = name;
    for (char& c : lower_name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lower_name.find("phi-3") != std::string::npos || lower_name.find("phi3") != std::string::npos) {
        for (int32_t id : special_tokens) tokens[id].attr |= kAttrRstrip;
        if (int32_t id = find("</s>"); id != kNullToken) tokens[id].attr |= kAttrRstrip;
        for (std::string_view text : {"<unk>", "<s>", "<|endoftext|>"}) {
            if (int32_t id = find(text); id != kNullToken) tokens[id].attr &= ~kAttrRstrip;
        }
    }
    return ok_status();
}

}  // namespace frugal
