// SentencePiece-style tokenizer.json (BPE with byte_fallback, Prepend/Replace normalizer, Replace / ByteFallback /
// Fuse / Strip decoder; src/tokenizer/hf_bpe_tokenizer.cpp) on the Llama-2 fixture made by
// scripts/reference/make_spm_tokenizer_json.py: llama.cpp's transformers-made ids for its .inp strings, Hugging Face
// tokenizers' ids and decodings for more strings, the GGUF round trip, and clear errors for what is unsupported.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "format/gguf/gguf_writer.h"
#include "tokenizer/gguf_vocab.h"
#include "tokenizer/hf_tokenizer_json.h"
#include "tokenizer/tokenizer_test_util.h"

namespace frugal {
namespace {

std::string data_dir() { return std::string(FRUGAL_TESTS_DIR) + "/tokenizer/data"; }

std::string fixture_json() {
    static const std::string text = testing::read_xz(data_dir() + "/llama_spm_tokenizer.json.xz");
    return text;
}

std::unique_ptr<Tokenizer> load_fixture() {
    Result<Vocab> vocab = vocab_from_tokenizer_json(fixture_json(), "", "llama_spm_tokenizer.json");
    EXPECT_TRUE(vocab.ok()) << vocab.status().message();
    if (!vocab.ok()) return nullptr;
    Result<std::unique_ptr<Tokenizer>> tok = Tokenizer::from_vocab(std::move(vocab).value());
    EXPECT_TRUE(tok.ok()) << tok.status().message();
    return tok.ok() ? std::move(tok).value() : nullptr;
}

std::vector<int32_t> ids_of(const nlohmann::json& v) { return v.get<std::vector<int32_t>>(); }

void expect_goldens(const Tokenizer& tok, const char* label) {
    const std::string base = std::string(FRUGAL_SHARED_DIR) + "/vocab-gguf/ggml-vocab-llama-spm.gguf";
    const auto cases = testing::read_test_cases(base + ".inp", base + ".out");
    ASSERT_GE(cases.size(), 46u);
    size_t bad = 0;
    for (size_t i = 0; i < cases.size(); ++i) {
        const std::vector<int32_t> got = tok.encode(cases[i].text, false, true);
        EXPECT_EQ(got, cases[i].ids) << label << " llama.cpp case " << i;
        bad += got != cases[i].ids;
    }
    std::printf("[ %s ] ggml-vocab-llama-spm .inp: %zu/%zu match\n", label, cases.size() - bad, cases.size());

    const nlohmann::json goldens = nlohmann::json::parse(testing::read_binary(data_dir() + "/llama_spm_goldens.json"));
    ASSERT_GE(goldens["cases"].size(), 100u);
    bad = 0;
    for (const nlohmann::json& c : goldens["cases"]) {
        const std::string text = c["text"].get<std::string>();
        const std::vector<int32_t> ids = ids_of(c["ids"]);
        const bool ok = tok.encode(text, false, true) == ids &&
                        tok.encode(text, false, false) == ids_of(c["ids_no_special"]) &&
                        tok.encode(text, true, true) == ids_of(c["ids_with_bos"]) &&
                        tok.decode(ids, /*render_special=*/true) == c["decoded"].get<std::string>();
        EXPECT_EQ(tok.encode(text, false, true), ids) << label << " '" << text << "'";
        EXPECT_EQ(tok.encode(text, false, false), ids_of(c["ids_no_special"])) << label << " '" << text << "'";
        EXPECT_EQ(tok.encode(text, true, true), ids_of(c["ids_with_bos"])) << label << " '" << text << "'";
        EXPECT_EQ(tok.decode(ids, true), c["decoded"].get<std::string>()) << label << " '" << text << "'";
        bad += !ok;
    }
    std::printf("[ %s ] llama_spm_goldens.json: %zu/%zu match (ids, ids without special parsing, with BOS, decode)\n",
                label, goldens["cases"].size() - bad, goldens["cases"].size());
}

TEST(HfTokenizerSpm, MatchesLlamaCppAndHuggingFace) {
    auto tok = load_fixture();
    ASSERT_NE(tok, nullptr);
    EXPECT_TRUE(tok->add_bos());
    EXPECT_EQ(tok->bos_id(), 1);
    expect_goldens(*tok, "tokenizer.json");
}

TEST(HfTokenizerSpm, ByteFallbackAndRoundTrip) {
    auto tok = load_fixture();
    ASSERT_NE(tok, nullptr);
    // U+10348 (Gothic hwair) is not a Llama-2 token: four byte tokens.
    const std::vector<int32_t> ids = tok->encode("\xf0\x90\x8d\x88", false, true);
    ASSERT_EQ(ids.size(), 5u);  // "▁" + <0xF0> <0x90> <0x8D> <0x88>
    EXPECT_EQ(tok->vocab().tokens[ids[1]].text, "<0xF0>");
    for (const std::string text :
         {"Hello world", "  two  spaces ", "emoji \xf0\x9f\x98\x80 and \xe4\xbd\xa0\xe5\xa5\xbd", "tab\tnew\nline"}) {
        EXPECT_EQ(tok->decode(tok->encode(text, false, true)), text);
        StreamingDetokenizer stream(*tok);
        std::string streamed;
        for (int32_t id : tok->encode(text, false, true)) streamed += stream.push(id);
        streamed += stream.flush();
        EXPECT_EQ(streamed, text);
    }
    // A lone byte token decodes to U+FFFD, as Hugging Face's ByteFallback decoder does.
    EXPECT_EQ(tok->decode(std::vector<int32_t>{tok->vocab().find("<0xF0>")}), "\xef\xbf\xbd");
}

TEST(HfTokenizerSpm, SurvivesTheGgufRoundTrip) {
    Result<Vocab> vocab = vocab_from_tokenizer_json(fixture_json(), "", "llama_spm_tokenizer.json");
    ASSERT_TRUE(vocab.ok()) << vocab.status().message();
    GgufWriter w;
    w.set_string("general.architecture", "llama");
    write_vocab_gguf_metadata(vocab.value(), w);
    const std::vector<uint8_t> bytes = w.to_bytes();
    Result<GgufFile> file = GgufFile::parse(bytes.data(), bytes.size(), "roundtrip.gguf");
    ASSERT_TRUE(file.ok()) << file.status().message();
    Result<std::unique_ptr<Tokenizer>> tok = Tokenizer::from_gguf(file.value());
    ASSERT_TRUE(tok.ok()) << tok.status().message();
    expect_goldens(*tok.value(), "gguf");
}

TEST(HfTokenizerSpmErrors, UnsupportedComponentsAreNamed) {
    const auto with = [](const std::string& key, const std::string& value) {
        nlohmann::json j = nlohmann::json::parse(R"({"model": {"type": "BPE", "byte_fallback": true, "unk_token": "a",
            "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]}, "pre_tokenizer": null})");
        if (key == "merges") {
            j["model"]["merges"] = nlohmann::json::parse(value);
        } else if (key == "dropout") {
            j["model"]["dropout"] = 0.1;
        } else {
            j[key] = nlohmann::json::parse(value);
        }
        return j.dump();
    };
    const std::vector<std::tuple<std::string, std::string, std::string>> cases = {
        {"normalizer", R"({"type": "BertNormalizer"})", "BertNormalizer"},
        {"normalizer", R"({"type": "Replace", "pattern": {"Regex": " +"}, "content": "_"})", "Regex"},
        {"decoder", R"({"type": "CTC"})", "CTC"},
        {"decoder", R"({"type": "Sequence", "decoders": [{"type": "ByteLevel"}]})", "ByteLevel"},
        {"pre_tokenizer", R"({"type": "Metaspace", "prepend_scheme": "sometimes"})", "sometimes"},
        {"merges", R"(["a c"])", "not in the vocabulary"},
        {"merges", R"(["a b c"])", "two tokens"},
        {"dropout", "", "dropout"},
        {"post_processor", R"({"type": "BertProcessing", "sep": ["a", 0], "cls": ["b", 1]})", "BertProcessing"},
        {"post_processor", R"({"type": "Sequence", "processors": [{"type": "RobertaProcessing"}]})",
         "RobertaProcessing"},
    };
    for (const auto& [key, value, needle] : cases) {
        Result<Vocab> vocab = vocab_from_tokenizer_json(with(key, value), "", "t.json");
        ASSERT_FALSE(vocab.ok()) << key << " " << value;
        EXPECT_NE(vocab.status().message().find(needle), std::string::npos) << vocab.status().message();
    }
    // A value of the wrong JSON type (found by tokenizer_json_fuzz: nlohmann threw through the API).
    for (
        const char* text :
        {R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "pre_tokenizer": null,
              "added_tokens": [{"id": 0, "content": "a", "special": 1}]})",
         R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [], "byte_fallback": "yes"}})",
         R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "normalizer": {"type": "Prepend", "prepend": 5}})"}) {
        Result<Vocab> vocab = vocab_from_tokenizer_json(text, "", "t.json");
        ASSERT_FALSE(vocab.ok()) << text;
        EXPECT_NE(vocab.status().message().find("wrong JSON type"), std::string::npos) << vocab.status().message();
    }
    Result<Vocab> ok = vocab_from_tokenizer_json(with("normalizer", "null"), "", "t.json");
    ASSERT_TRUE(ok.ok()) << ok.status().message();
    // Llama 3.1's post-processor form: a Sequence of ByteLevel and TemplateProcessing adds the template's BOS.
    Result<Vocab> seq =
        vocab_from_tokenizer_json(with("post_processor", R"({"type": "Sequence", "processors": [{"type": "ByteLevel"},
            {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "b", "type_id": 0}},
                                                      {"Sequence": {"id": "A", "type_id": 0}}]}]})"),
                                  "", "t.json");
    ASSERT_TRUE(seq.ok()) << seq.status().message();
    EXPECT_TRUE(seq->add_bos);
    EXPECT_EQ(seq->bos_id, 1);
}

}  // namespace
}  // namespace frugal
