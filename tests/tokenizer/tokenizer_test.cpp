// Round trips, special tokens, BOS/EOG handling, hostile input and bad metadata.
#include <gtest/gtest.h>

#include <filesystem>

#include "format/gguf/gguf_writer.h"
#include "tokenizer/tokenizer_test_util.h"

namespace frugal {
namespace {

std::unique_ptr<Tokenizer> load(const std::string& name) {
    std::string error;
    auto tok = testing::load_vocab_tokenizer(name, &error);
    EXPECT_NE(tok, nullptr) << error;
    return tok;
}

// The strings of llama.cpp's test vectors that HF's clean-up rule (on for gpt-2 and llama-bpe) would alter.
bool clean_up_changes(const std::string& s) {
    for (size_t i = 1; i < s.size(); ++i) {
        if (s[i - 1] == ' ' && (s[i] == '?' || s[i] == '!' || s[i] == '.' || s[i] == ',' || s[i] == '\'')) return true;
    }
    return false;
}

class RoundTripTest : public ::testing::TestWithParam<const char*> {};

TEST_P(RoundTripTest, DecodeInvertsEncode) {
    const std::string name = GetParam();
    auto tok = load(name);
    ASSERT_NE(tok, nullptr);
    int checked = 0;
    for (const auto& c : testing::read_vocab_cases(name)) {
        if (tok->vocab().clean_spaces && clean_up_changes(c.text)) continue;
        EXPECT_EQ(tok->decode(tok->encode(c.text, false, false)), c.text) << name;
        ++checked;
    }
    EXPECT_GT(checked, 30);
}

INSTANTIATE_TEST_SUITE_P(Vocabs, RoundTripTest,
                         ::testing::Values("llama-spm", "phi-3", "llama-bpe", "qwen2", "deepseek-llm", "deepseek-coder",
                                           "gpt-2"),
                         [](const auto& info) {
                             std::string n = info.param;
                             for (char& c : n) {
                                 if (c == '-') c = '_';
                             }
                             return n;
                         });

TEST(TokenizerTest, SpmBosAndSpecialTokens) {
    auto tok = load("llama-spm");
    ASSERT_NE(tok, nullptr);
    EXPECT_EQ(tok->bos_id(), 1);
    EXPECT_EQ(tok->eos_id(), 2);
    EXPECT_TRUE(tok->add_bos());
    EXPECT_EQ(tok->vocab_size(), 32000);
    const auto hello = tok->encode("Hello", false, false);
    ASSERT_EQ(hello.size(), 1u);  // "▁Hello" (dummy prefix)
    EXPECT_EQ(tok->encode("Hello", true, false), (std::vector<int32_t>{1, hello[0]}));
    // With parse_special the text "<s>" is BOS and the dummy prefix follows it; without, it is plain text.
    EXPECT_EQ(tok->encode("<s>Hello", false, true), (std::vector<int32_t>{1, hello[0]}));
    const auto as_text = tok->encode("<s>Hello", false, false);
    EXPECT_GT(as_text.size(), 2u);
    EXPECT_EQ(tok->decode(as_text), "<s>Hello");
    EXPECT_TRUE(tok->is_eog(2));
    EXPECT_FALSE(tok->is_eog(1));
    EXPECT_FALSE(tok->is_eog(-1));
    EXPECT_FALSE(tok->is_eog(1 << 30));
    EXPECT_EQ(tok->token_to_piece(1), "");
    EXPECT_EQ(tok->token_to_piece(1, true), "<s>");
    EXPECT_EQ(tok->token_to_piece(hello[0]), " Hello");
    EXPECT_EQ(tok->token_to_piece(13), "\n");  // <0x0A>
    EXPECT_EQ(tok->token_to_piece(-3), "");
    // llama_detokenize keeps the space after a leading BOS (only the very first piece is stripped).
    EXPECT_EQ(tok->decode(std::vector<int32_t>{1, hello[0]}), " Hello");
    EXPECT_EQ(tok->decode(std::vector<int32_t>{1, hello[0]}, true), "<s> Hello");
}

TEST(TokenizerTest, Llama3SpecialTokensAndEog) {
    auto tok = load("llama-bpe");
    ASSERT_NE(tok, nullptr);
    const int32_t begin = tok->vocab().find("<|begin_of_text|>");
    const int32_t eot = tok->vocab().find("<|eot_id|>");
    ASSERT_NE(begin, kNullToken);
    ASSERT_NE(eot, kNullToken);
    EXPECT_TRUE(tok->add_bos());
    EXPECT_EQ(tok->bos_id(), begin);
    EXPECT_TRUE(tok->is_eog(eot));
    EXPECT_TRUE(tok->is_eog(tok->eos_id()));
    const std::string text = "<|start_header_id|>user<|end_header_id|>\n\nHi!<|eot_id|>";
    const auto ids = tok->encode(text, true, true);
    ASSERT_GE(ids.size(), 6u);
    EXPECT_EQ(ids.front(), begin);
    EXPECT_EQ(ids[1], tok->vocab().find("<|start_header_id|>"));
    EXPECT_EQ(ids.back(), eot);
    EXPECT_EQ(tok->decode(ids, /*render_special=*/true), "<|begin_of_text|>" + text);
    EXPECT_EQ(tok->decode(ids), "user\n\nHi!");
    // Without parse_special the markup is ordinary text.
    const auto plain = tok->encode(text, false, false);
    for (int32_t id : plain) EXPECT_NE(id, eot);
    EXPECT_EQ(tok->decode(plain), text);
}

TEST(TokenizerTest, LongestSpecialTokenWins) {
    auto tok = load("qwen2");
    ASSERT_NE(tok, nullptr);
    const int32_t im_start = tok->vocab().find("<|im_start|>");
    const int32_t im_end = tok->vocab().find("<|im_end|>");
    ASSERT_NE(im_start, kNullToken);
    ASSERT_NE(im_end, kNullToken);
    EXPECT_TRUE(tok->is_eog(im_end));
    const auto ids = tok->encode("<|im_start|>user\nhi<|im_end|><|im_end|>", false, true);
    ASSERT_GE(ids.size(), 4u);
    EXPECT_EQ(ids[0], im_start);
    EXPECT_EQ(ids[ids.size() - 1], im_end);
    EXPECT_EQ(ids[ids.size() - 2], im_end);
}

TEST(TokenizerTest, InvalidUtf8DoesNotCrash) {
    const std::string nasty[] = {
        std::string("\xff\xfe abc \xc3", 8),
        std::string("\x80\x80\x80"),
        std::string("ok\xed\xa0\x80" "surrogate\xf4\x90\x80\x80" "big\xf8\x88\x80\x80\x80"),
        std::string("\0zero\0", 6),
        std::string("\xe4\xbd"),
        std::string(10000, ' ') + "x" + std::string(5000, '\n'),
    };
    for (const char* name : {"llama-spm", "llama-bpe", "qwen2", "deepseek-llm", "deepseek-coder", "gpt-2"}) {
        auto tok = load(name);
        ASSERT_NE(tok, nullptr);
        for (const std::string& s : nasty) {
            for (bool special : {false, true}) {
                const auto ids = tok->encode(s, true, special);
                for (int32_t id : ids) {
                    ASSERT_GE(id, 0);
                    ASSERT_LT(id, tok->vocab_size());
                }
                StreamingDetokenizer stream(*tok);
                for (int32_t id : ids) stream.push(id);
                stream.flush();
            }
        }
    }
    // SPM byte fallback keeps stray bytes (as long as a bad lead byte does not swallow what follows it: llama.cpp
    // sizes a symbol by its lead byte alone); BPE sees U+FFFD, as llama.cpp does.
    auto spm = load("llama-spm");
    const std::string stray(
        "abc\x80"
        "def \xc3");
    EXPECT_EQ(spm->decode(spm->encode(stray, false, false)), stray);
    auto bpe = load("llama-bpe");
    EXPECT_EQ(bpe->decode(bpe->encode(nasty[0], false, false)), "\xef\xbf\xbd\xef\xbf\xbd abc \xef\xbf\xbd");
}

std::string scratch(const std::string& name) {
    std::filesystem::create_directories(FRUGAL_TEST_SCRATCH_DIR);
    return std::string(FRUGAL_TEST_SCRATCH_DIR) + "/" + name;
}

Result<std::unique_ptr<Tokenizer>> load_written(const GgufWriter& w, const std::string& name) {
    const std::string path = scratch(name);
    RETURN_IF_ERROR(w.write(path));
    ASSIGN_OR_RETURN(GgufFile file, GgufFile::open(path));
    return Tokenizer::from_gguf(file);
}

TEST(TokenizerTest, BadMetadataGivesErrors) {
    {
        GgufWriter w;
        w.set_string("general.architecture", "llama");
        auto r = load_written(w, "no_tokenizer.gguf");
        ASSERT_FALSE(r.ok());
        EXPECT_NE(r.status().message().find("tokenizer.ggml.model"), std::string::npos) << r.status().message();
    }
    {
        GgufWriter w;
        w.set_string("tokenizer.ggml.model", "llama");
        auto r = load_written(w, "no_tokens.gguf");
        ASSERT_FALSE(r.ok());
        EXPECT_NE(r.status().message().find("tokenizer.ggml.tokens"), std::string::npos) << r.status().message();
    }
    {
        GgufWriter w;
        w.set_string("tokenizer.ggml.model", "llama");
        w.set_string("tokenizer.ggml.tokens", "not an array");
        EXPECT_FALSE(load_written(w, "tokens_not_array.gguf").ok());
    }
    {
        GgufWriter w;
        w.set_string("tokenizer.ggml.model", "llama");
        w.set_string_array("tokenizer.ggml.tokens", {"<unk>", "<s>", "</s>", "a"});
        w.set_float32_array("tokenizer.ggml.scores", {0.0f, 0.0f});
        EXPECT_FALSE(load_written(w, "short_scores.gguf").ok());
    }
    {
        GgufWriter w;
        w.set_string("tokenizer.ggml.model", "llama");
        w.set_string_array("tokenizer.ggml.tokens", {"<unk>", "<s>", "</s>", "a", "a"});
        auto r = load_written(w, "duplicate.gguf");
        ASSERT_FALSE(r.ok());
        EXPECT_NE(r.status().message().find("duplicate"), std::string::npos) << r.status().message();
    }
    {
        GgufWriter w;
        w.set_string("tokenizer.ggml.model", "gpt2");
        w.set_string_array("tokenizer.ggml.tokens", {"a", "b"});
        auto r = load_written(w, "no_merges.gguf");
        ASSERT_FALSE(r.ok());
        EXPECT_NE(r.status().message().find("merges"), std::string::npos) << r.status().message();
    }
    {
        GgufWriter w;
        w.set_string("tokenizer.ggml.model", "gpt2");
        w.set_string("tokenizer.ggml.pre", "no-such-pre");
        w.set_string_array("tokenizer.ggml.tokens", {"a", "b"});
        w.set_string_array("tokenizer.ggml.merges", {"a b"});
        auto r = load_written(w, "bad_pre.gguf");
        ASSERT_FALSE(r.ok());
        EXPECT_NE(r.status().message().find("no-such-pre"), std::string::npos) << r.status().message();
    }
    {
        GgufWriter w;
        w.set_string("tokenizer.ggml.model", "bert");
        w.set_string_array("tokenizer.ggml.tokens", {"a"});
        EXPECT_FALSE(load_written(w, "bert.gguf").ok());
    }
    {
        // add_bos with the BOS id out of range and no default in range: rejected, as llama.cpp does.
        GgufWriter w;
        w.set_string("tokenizer.ggml.model", "llama");
        w.set_string_array("tokenizer.ggml.tokens", {"<unk>"});
        w.set_bool("tokenizer.ggml.add_bos_token", true);
        w.set_uint32("tokenizer.ggml.bos_token_id", 7);
        EXPECT_FALSE(load_written(w, "bad_bos.gguf").ok());
    }
}

TEST(TokenizerTest, BpeVocabExportRoundTrips) {
    auto tok = load("gpt-2");
    ASSERT_NE(tok, nullptr);
    GgufWriter w;
    tok->write_gguf_metadata(w);
    auto reloaded = load_written(w, "gpt2_vocab.gguf");
    ASSERT_TRUE(reloaded.ok()) << reloaded.status().message();
    for (const auto& c : testing::read_vocab_cases("gpt-2")) {
        EXPECT_EQ(reloaded.value()->encode(c.text, false, false), c.ids) << c.text;
    }
}

}  // namespace
}  // namespace frugal
