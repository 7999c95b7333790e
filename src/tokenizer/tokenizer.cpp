#include "tokenizer/tokenizer.h"

#include <cctype>

#include "tokenizer/bpe_tokenizer.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/gguf_vocab.h"
#include "tokenizer/hf_bpe_tokenizer.h"
#include "tokenizer/hf_unicode.h"
#include "tokenizer/llama2c_vocab.h"
#include "tokenizer/special_token_index.h"
#include "tokenizer/spm_tokenizer.h"
#include "tokenizer/utf8.h"

namespace frugal {
namespace {

constexpr std::string_view kEscapedSpace = "\xe2\x96\x81";  // U+2581, SentencePiece's visible space

std::string replace_all(std::string_view text, std::string_view from, std::string_view to) {
    std::string out;
    out.reserve(text.size());
    size_t pos = 0;
    while (true) {
        const size_t hit = text.find(from, pos);
        if (hit == std::string_view::npos) break;
        out.append(text.substr(pos, hit - pos)).append(to);
        pos = hit + from.size();
    }
    out.append(text.substr(pos));
    return out;
}

// Byte-level token text -> bytes (llama.cpp's llama_decode_text, including its marker for unmapped characters).
std::string decode_byte_level(std::string_view text) {
    std::string out;
    for (uint32_t cpt : decode_utf8_lenient(text)) {
        if (const auto b = unicode_to_byte(cpt); b.has_value()) {
            out.push_back(static_cast<char>(*b));
            continue;
        }
        const std::string utf8 = cpt_to_utf8(cpt);
        out += "[UNK_BYTE_0x";
        for (char c : utf8) out += fmt::format("{:02x}", static_cast<uint8_t>(c));
        out.append(text).push_back(']');
    }
    return out;
}

// HF's clean_up_tokenization_spaces as llama.cpp applies it, three passes over the bytes.
std::string clean_up_spaces(std::string text) {
    const auto pass = [&](auto&& step) {
        std::string out;
        out.reserve(text.size());
        for (size_t i = 0; i < text.size(); ++i) step(i, out);
        text = std::move(out);
    };
    // " ?", " !", " .", " ," -> drop the space
    pass([&](size_t i, std::string& out) {
        const char x = text[i];
        if (i > 0 && text[i - 1] == ' ' && (x == '?' || x == '!' || x == '.' || x == ',') && !out.empty()) {
            out.pop_back();
        }
        out.push_back(x);
    });
    // " ' " -> "'"
    {
        std::string out;
        for (size_t i = 0; i < text.size(); ++i) {
            const char x = text[i];
            if (x == '\'' && i > 0 && i + 1 < text.size() && text[i - 1] == ' ' && text[i + 1] == ' ') {
                if (!out.empty()) out.pop_back();
                out.push_back(x);
                ++i;  // the space after
                continue;
            }
            out.push_back(x);
        }
        text = std::move(out);
    }
    // " 's", " 'm", " 're", " 've" -> drop the space
    pass([&](size_t i, std::string& out) {
        const char x = text[i];
        if (i > 0 && text[i - 1] == ' ' && x == '\'' && i + 1 < text.size()) {
            const char x1 = text[i + 1];
            const bool two = i + 2 < text.size();
            if (x1 == 's' || x1 == 'm' ||
                (two && ((x1 == 'r' && text[i + 2] == 'e') || (x1 == 'v' && text[i + 2] == 'e')))) {
                if (!out.empty()) out.pop_back();
            }
        }
        out.push_back(x);
    });
    return text;
}

}  // namespace

Tokenizer::Tokenizer(Vocab vocab) : vocab_(std::move(vocab)) {}
Tokenizer::~Tokenizer() = default;

Result<std::unique_ptr<Tokenizer>> Tokenizer::from_vocab(Vocab vocab) {
    std::unique_ptr<Tokenizer> tok(new Tokenizer(std::move(vocab)));
    if (tok->vocab_.token_to_id.size() != tok->vocab_.tokens.size() ||
        tok->vocab_.eog.size() != tok->vocab_.tokens.size()) {
        return Status::error("vocabulary was not finalized");
    }
    std::vector<std::string_view> special_texts;
    for (int32_t id : tok->vocab_.special_tokens) special_texts.emplace_back(tok->vocab_.tokens[id].text);
    tok->special_index_ = std::make_unique<SpecialTokenIndex>(special_texts);
    if (!tok->vocab_.hf_pipeline.empty()) {
        ASSIGN_OR_RETURN(tok->hf_bpe_, HfBpeTokenizer::create(tok->vocab_));
    } else if (tok->vocab_.type == VocabType::kSpm) {
        tok->spm_ = std::make_unique<SpmTokenizer>(tok->vocab_);
    } else {
        ASSIGN_OR_RETURN(tok->bpe_, BpeTokenizer::create(tok->vocab_));
    }
    return tok;
}

Result<std::unique_ptr<Tokenizer>> Tokenizer::from_gguf(const GgufFile& file) {
    ASSIGN_OR_RETURN(Vocab vocab, vocab_from_gguf(file));
    return from_vocab(std::move(vocab));
}

Result<std::unique_ptr<Tokenizer>> Tokenizer::from_llama2c(const std::string& path) {
    ASSIGN_OR_RETURN(Vocab vocab, load_llama2c_vocab(path));
    return from_vocab(std::move(vocab));
}

std::vector<Tokenizer::Fragment> Tokenizer::partition_special(std::string_view text, bool parse_special) const {
    std::vector<Fragment> fragments;
    if (text.empty()) return fragments;
    fragments.push_back({kNullToken, 0, text.size()});
    const auto is_space = [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; };

    // Each special token splits every raw fragment at all its occurrences; longer tokens go first. Tokens that
    // do not occur in text cannot split anything and are skipped.
    const std::vector<bool> present = special_index_->find_present(text);
    for (size_t k = 0; k < vocab_.special_tokens.size(); ++k) {
        if (!present[k]) continue;
        const int32_t special_id = vocab_.special_tokens[k];
        const TokenData& data = vocab_.tokens[special_id];
        if (!parse_special && (data.attr & (kAttrControl | kAttrUnknown))) continue;
        const std::string_view special = data.text;
        std::vector<Fragment> next;
        next.reserve(fragments.size() + 2);
        for (const Fragment& f : fragments) {
            if (f.token != kNullToken) {
                next.push_back(f);
                continue;
            }
            size_t pos = f.offset;
            const size_t end = f.offset + f.length;
            while (pos < end) {
                const size_t hit = text.substr(0, end).find(special, pos);
                if (hit == std::string_view::npos) break;
                size_t left_end = hit;
                if (data.attr & kAttrLstrip) {
                    while (left_end > pos && is_space(text[left_end - 1])) --left_end;
                }
                if (left_end > pos) next.push_back({kNullToken, pos, left_end - pos});
                next.push_back({special_id, 0, 0});
                pos = hit + special.size();
                if (data.attr & kAttrRstrip) {
                    while (pos < end && is_space(text[pos])) ++pos;
                }
            }
            if (pos < end) next.push_back({kNullToken, pos, end - pos});
        }
        fragments = std::move(next);
    }
    return fragments;
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_bos, bool parse_special) const {
    std::vector<int32_t> out;
    const std::vector<Fragment> fragments = partition_special(text, parse_special);
    if (add_bos && vocab_.add_bos) out.push_back(vocab_.bos_id);
    if (hf_bpe_ != nullptr) {
        for (const Fragment& f : fragments) {
            if (f.token != kNullToken) {
                out.push_back(f.token);
            } else {
                hf_bpe_->encode(text.substr(f.offset, f.length), /*at_input_start=*/f.offset == 0, out);
            }
        }
    } else if (spm_ != nullptr) {
        bool prev_special = true;  // the dummy prefix goes before the first text and after each special token
        for (const Fragment& f : fragments) {
            if (f.token != kNullToken) {
                out.push_back(f.token);
                prev_special = true;
                continue;
            }
            std::string raw;
            if (vocab_.add_space_prefix && prev_special) raw.push_back(' ');
            raw.append(text.substr(f.offset, f.length));
            spm_->encode(replace_all(raw, " ", kEscapedSpace), out);
            prev_special = false;
        }
    } else {
        for (const Fragment& f : fragments) {
            if (f.token != kNullToken) {
                out.push_back(f.token);
            } else if (vocab_.normalizer.empty()) {
                bpe_->encode(text.substr(f.offset, f.length), out);
            } else {
                bpe_->encode(hf_unicode_normalize(text.substr(f.offset, f.length), vocab_.normalizer), out);
            }
        }
    }
    if (add_bos && vocab_.add_eos) out.push_back(vocab_.eos_id);
    return out;
}

std::string Tokenizer::piece(int32_t id, bool render_special, bool strip_leading_space) const {
    if (id < 0 || id >= vocab_.num_tokens()) return {};
    const TokenData& data = vocab_.tokens[id];
    if (!render_special && (data.attr & (kAttrUnknown | kAttrControl))) return {};
    std::string result;
    if (data.attr & (kAttrUnknown | kAttrControl | kAttrUserDefined)) {
        result = data.text;
    } else if (data.attr & kAttrNormal) {
        result =
            vocab_.type == VocabType::kSpm ? replace_all(data.text, kEscapedSpace, " ") : decode_byte_level(data.text);
    } else if (data.attr & kAttrByte) {
        result.push_back(static_cast<char>(vocab_.token_to_byte(id)));
    }
    if (strip_leading_space && !result.empty() && result[0] == ' ') result.erase(0, 1);
    return result;
}

std::string Tokenizer::token_to_piece(int32_t id, bool render_special) const {
    return piece(id, render_special, /*strip_leading_space=*/false);
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool render_special) const {
    if (hf_bpe_ != nullptr) {
        // Hugging Face's decode: the token texts (special ones only when rendered) through the decoder chain.
        std::vector<std::string> texts;
        texts.reserve(ids.size());
        for (int32_t id : ids) {
            if (id < 0 || id >= vocab_.num_tokens()) continue;
            const TokenData& data = vocab_.tokens[id];
            if (!render_special && (data.attr & (kAttrUnknown | kAttrControl))) continue;
            texts.push_back(data.text);
        }
        return hf_bpe_->decode(std::move(texts));
    }
    std::string text;
    bool strip = vocab_.add_space_prefix;
    for (int32_t id : ids) {
        text += piece(id, render_special, strip);
        strip = false;
    }
    return vocab_.clean_spaces ? clean_up_spaces(std::move(text)) : text;
}

void Tokenizer::write_gguf_metadata(GgufWriter& w) const { write_vocab_gguf_metadata(vocab_, w); }

std::string StreamingDetokenizer::push(int32_t id) {
    std::string piece = tokenizer_.token_to_piece(id, render_special_);
    if (first_ && tokenizer_.add_space_prefix() && !piece.empty() && piece[0] == ' ') piece.erase(0, 1);
    first_ = false;
    pending_ += piece;
    return drain(/*at_end=*/false);
}

std::string StreamingDetokenizer::flush() {
    std::string out = drain(/*at_end=*/true);
    first_ = true;
    return out;
}

std::string StreamingDetokenizer::drain(bool at_end) {
    static const std::string kReplacement = cpt_to_utf8(kReplacementChar);
    std::string out;
    size_t pos = 0;
    while (pos < pending_.size()) {
        const int len = strict_utf8_sequence_length(pending_, pos);
        if (len > 0) {
            out.append(pending_, pos, len);
            pos += len;
        } else if (len < 0 && !at_end) {
            break;  // a valid prefix: wait for the rest
        } else {
            // Invalid here: one U+FFFD for the maximal invalid subpart (the lead byte and the continuation bytes
            // that were still acceptable after it).
            out += kReplacement;
            size_t skip = 1;
            while (pos + skip < pending_.size() && skip < 4 &&
                   strict_utf8_sequence_length(std::string_view(pending_).substr(pos, skip + 1), 0) < 0) {
                ++skip;
            }
            if (len < 0) skip = pending_.size() - pos;  // at end: the whole incomplete tail is one subpart
            pos += skip;
        }
    }
    pending_.erase(0, pos);
    return out;
}

}  // namespace frugal
