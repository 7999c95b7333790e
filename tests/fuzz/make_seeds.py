#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets in tests/fuzz, one folder per target under OUT_DIR:

  gguf/        (gguf_reader_fuzz, vocab_fuzz) tiny valid GGUF files made with the `gguf` package (every metadata
               type, every tensor type the reader stores, v2 and v3, odd alignments), shrunk copies of the shared
               vocabulary GGUFs (arrays cut to a few hundred entries so they fit under -max_len), and the
               uncompressed vocabulary GGUFs themselves
  llama2c/     (llama2c_checkpoint_fuzz, vocab_fuzz) a tiny legacy llama2.c checkpoint (shared and separate
               classifier) and a small llama2.c tokenizer.bin
  safetensors/ (safetensors_fuzz) tiny valid safetensors files written by hand (every dtype, scalar and empty
               tensors, metadata, padded and unpadded headers)
  tokenizer/   (tokenizer_fuzz) the texts of the shared vocab tests (*.inp), each behind a selector byte
  tokenizer_json/ (tokenizer_json_fuzz) "file\0text": shrunk tokenizer.json files (Llama 3 / Qwen3 / DeepSeek-V3
               byte-level, the Llama-2 SentencePiece-style fixture and Metaspace variants of it; vocabularies cut
               to 300 tokens and the merges among them) and the first lines of cl100k_base.tiktoken, each with a
               few test texts

    python3 tests/fuzz/make_seeds.py build-fuzz/seeds [--shared-dir /work/shared]

Deterministic: the same inputs give byte-identical seeds.
"""
import argparse
import json
import shutil
import struct
from pathlib import Path

import numpy as np
import gguf
from gguf import GGMLQuantizationType as Q

# Bytes per block of the quantized types the reader stores (GGML layout).
QUANT_BLOCK_BYTES = {
    Q.Q4_0: 18, Q.Q4_1: 20, Q.Q5_0: 22, Q.Q5_1: 24, Q.Q8_0: 34, Q.Q4_K: 144, Q.Q5_K: 176, Q.Q6_K: 210, Q.Q8_K: 292,
}


def write(path: Path, build, alignment=None, version=3):
    w = gguf.GGUFWriter(str(path), "llama")
    if alignment is not None:
        w.data_alignment = alignment
        w.add_custom_alignment(alignment)
    build(w)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    if version != 3:
        data = bytearray(path.read_bytes())
        data[4:8] = struct.pack("<I", version)  # v2 and v3 share the layout for little-endian files
        path.write_bytes(bytes(data))


def all_metadata_types(w):
    w.add_uint8("t.u8", 200)
    w.add_int8("t.i8", -5)
    w.add_uint16("t.u16", 60000)
    w.add_int16("t.i16", -30000)
    w.add_uint32("t.u32", 4000000000)
    w.add_int32("t.i32", -2000000000)
    w.add_float32("t.f32", 1.5)
    w.add_bool("t.bool", True)
    w.add_string("t.str", "hello gguf")
    w.add_uint64("t.u64", 2**63 + 7)
    w.add_int64("t.i64", -(2**40))
    w.add_float64("t.f64", -2.25)
    w.add_array("t.arr_i32", [1, -2, 3])
    w.add_array("t.arr_f32", [0.5, 1.5])
    w.add_array("t.arr_str", ["a", "", "ccc"])
    w.add_array("t.arr_empty", [])
    w.add_block_count(2)
    w.add_context_length(128)
    w.add_rope_freq_base(10000.0)


def tensors(w):
    rng = np.random.default_rng(0)
    w.add_block_count(1)
    w.add_tensor("f32", rng.standard_normal((2, 8)).astype(np.float32))
    w.add_tensor("f16", rng.standard_normal((3,)).astype(np.float16))
    w.add_tensor("i8", np.arange(5, dtype=np.int8))
    w.add_tensor("i32", np.arange(4, dtype=np.int32).reshape(2, 2))
    for qtype, nbytes in QUANT_BLOCK_BYTES.items():
        raw = rng.integers(0, 256, size=(2, nbytes), dtype=np.uint8)
        w.add_tensor(f"q.{qtype.name.lower()}", raw, raw_dtype=qtype)  # shape from bytes: 2 rows of one block


def shrink_vocab(src: Path, dst: Path, keep=300):
    """Rewrites a vocabulary GGUF with every array cut to `keep` entries."""
    r = gguf.GGUFReader(str(src))
    w = gguf.GGUFWriter(str(dst), "llama")
    for name, field in r.fields.items():
        if name.startswith("GGUF.") or name in ("general.architecture", "general.alignment"):
            continue
        vtype = field.types[0]
        if vtype == gguf.GGUFValueType.ARRAY:
            etype = field.types[1] if len(field.types) > 1 else gguf.GGUFValueType.INT32
            items = [field.parts[i] for i in field.data[:keep]]
            if etype == gguf.GGUFValueType.STRING:
                vals = [bytes(p).decode("utf-8", errors="replace") for p in items]
            else:
                vals = [p.tolist()[0] for p in items]
            if not vals:
                continue
            w.add_key_value(name, vals, vtype, sub_type=etype)
        elif vtype == gguf.GGUFValueType.STRING:
            w.add_key_value(name, bytes(field.parts[-1]).decode("utf-8", errors="replace"), vtype)
        else:
            w.add_key_value(name, field.parts[-1].tolist()[0], vtype)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def llama2c_checkpoint(path: Path, shared: bool):
    """A legacy (version 0) llama2.c export: 7 int32 header fields, then float32 weights in llama2.c order."""
    dim, hidden, layers, heads, kv_heads, vocab, seq_len = 8, 16, 1, 2, 2, 16, 4
    head = dim // heads
    kv_dim = head * kv_heads
    floats = (vocab * dim + layers * dim * 2 + layers * dim * (dim + 2 * kv_dim + dim) + layers * 3 * hidden * dim
              + dim + seq_len * head + (0 if shared else vocab * dim))
    rng = np.random.default_rng(1)
    header = struct.pack("<7i", dim, hidden, layers, heads, kv_heads, vocab if shared else -vocab, seq_len)
    path.write_bytes(header + rng.standard_normal(floats).astype("<f4").tobytes())


def llama2c_tokenizer(path: Path, num_tokens=300):
    """A llama2.c tokenizer.bin: max_token_length, then (score, length, bytes) per token; ids 3..258 are bytes."""
    pieces = [b"<unk>", b"\n<s>\n", b"\n</s>\n"] + [f"<0x{b:02X}>".encode() for b in range(256)]
    words = [b" the", b" a", b"e", b"t", b" th", b"he", b"in", b" w", b"or", b"ld", b" Hello", b" world", b"!"]
    pieces += words + [f"w{i}".encode() for i in range(num_tokens - len(pieces) - len(words))]
    out = bytearray(struct.pack("<i", max(len(p) for p in pieces)))
    for i, piece in enumerate(pieces):
        out += struct.pack("<fi", -float(i), len(piece)) + piece
    path.write_bytes(bytes(out))


SAFETENSORS_DTYPE_BYTES = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "F8_E8M0": 1, "I16": 2, "U16": 2,
                           "F16": 2, "BF16": 2, "I32": 4, "U32": 4, "F32": 4, "C64": 8, "F64": 8, "I64": 8, "U64": 8}


def safetensors_file(path: Path, tensors, metadata=None, pad=True):
    """A safetensors file: 8-byte little-endian header length, JSON header, contiguous data. tensors is a list of
    (name, dtype, shape, bytes); the header is space-padded to 8 bytes as the Python writer does when pad."""
    header, data = {}, b""
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    if metadata is not None:
        header["__metadata__"] = metadata
    text = json.dumps(header, separators=(",", ":")).encode()
    if pad:
        text += b" " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)


def safetensors_seeds(out: Path):
    rng = np.random.default_rng(2)
    bf16 = (rng.standard_normal(4).astype("<f4").view("<u4") >> 16).astype("<u2")
    floats = [("w.f32", "F32", [2, 3], rng.standard_normal(6).astype("<f4").tobytes()),
              ("w.f16", "F16", [4], rng.standard_normal(4).astype("<f2").tobytes()),
              ("w.bf16", "BF16", [2, 2], bf16.tobytes()),
              ("scalar", "F32", [], struct.pack("<f", 0.5)),
              ("empty", "BF16", [0, 4], b"")]
    safetensors_file(out / "floats.safetensors", floats, {"format": "pt"})
    safetensors_file(out / "floats_unpadded.safetensors", floats, pad=False)
    every = [(f"t.{d.lower()}", d, [3], bytes(range(3 * n))) for d, n in SAFETENSORS_DTYPE_BYTES.items()]
    every += [("t.f4", "F4", [4], b"\x12\x34"), ("t.f6", "F6_E2M3", [4], b"\x01\x02\x03")]
    safetensors_file(out / "every_dtype.safetensors", every)
    safetensors_file(out / "empty.safetensors", [])
    safetensors_file(out / "metadata_only.safetensors", [], {"format": "pt", "note": "caf\u00e9"})


def tokenizer_texts(shared: Path, out: Path, num_vocabs=4):
    """One seed per test text of the shared vocab tests, behind a selector byte that cycles through vocabularies
    and flags (see tokenizer_fuzz.cpp)."""
    texts = []
    for inp in sorted((shared / "vocab-gguf").glob("*.inp")):
        for t in inp.read_bytes().split(b"\n__ggml_vocab_test__\n"):
            if t and t not in texts:
                texts.append(t)
    for i, t in enumerate(texts):
        selector = (i % num_vocabs) | ((i // num_vocabs) % 8) << 4
        (out / f"text_{i:03d}").write_bytes(bytes([selector]) + t)


def shrink_tokenizer_json(j, keep=300):
    """The first `keep` tokens of model.vocab, the merges among them and the added tokens (renumbered after)."""
    model = j["model"]
    vocab = {t: i for t, i in model["vocab"].items() if i < keep}
    merges = []
    for m in model.get("merges", []):
        a, b = m.split(" ", 1) if isinstance(m, str) else m
        if a in vocab and b in vocab and a + b in vocab:
            merges.append(m)
    j = dict(j, model=dict(model, vocab=vocab, merges=merges))
    j["added_tokens"] = [dict(t, id=keep + k) if t["id"] >= keep else t for k, t in enumerate(j.get("added_tokens", []))][:20]
    return j


def tokenizer_json_seeds(shared: Path, repo: Path, out: Path):
    import lzma
    texts = []
    for t in (shared / "vocab-gguf" / "ggml-vocab-llama-spm.gguf.inp").read_bytes().split(b"\n__ggml_vocab_test__\n"):
        if t and t not in texts:
            texts.append(t)
    files = {}
    for name in ("llama3", "qwen3", "deepseek_v3"):
        j = json.loads(lzma.open(shared / "tokenizers" / name / "tokenizer.json.xz").read())
        files[name] = json.dumps(shrink_tokenizer_json(j), ensure_ascii=False).encode()
    spm = json.loads(lzma.open(repo / "tests" / "tokenizer" / "data" / "llama_spm_tokenizer.json.xz").read())
    spm = shrink_tokenizer_json(spm)
    files["llama_spm"] = json.dumps(spm, ensure_ascii=False).encode()
    meta = {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "first", "split": True}
    files["metaspace"] = json.dumps(dict(spm, normalizer=None, pre_tokenizer=meta, decoder=meta),
                                    ensure_ascii=False).encode()
    files["cl100k"] = b"".join(lzma.open(shared / "tokenizers" / "cl100k_base.tiktoken.xz").readlines()[:300])
    for n, (name, data) in enumerate(sorted(files.items())):
        for k in range(4):
            (out / f"{name}_{k}").write_bytes(data + b"\0" + texts[(4 * n + k) % len(texts)])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out_dir", type=Path)
    ap.add_argument("--shared-dir", type=Path, default=Path(__file__).resolve().parents[3] / "shared")
    args = ap.parse_args()
    out = args.out_dir / "gguf"
    for sub in ("gguf", "llama2c", "safetensors", "tokenizer", "tokenizer_json"):
        (args.out_dir / sub).mkdir(parents=True, exist_ok=True)

    write(out / "empty.gguf", lambda w: None)
    write(out / "metadata_v3.gguf", all_metadata_types)
    write(out / "metadata_v2.gguf", all_metadata_types, version=2)
    write(out / "tensors.gguf", tensors)
    write(out / "tensors_align64.gguf", tensors, alignment=64)
    write(out / "tensors_align1.gguf", tensors, alignment=1)

    for vocab in sorted((args.shared_dir / "vocab-gguf").glob("*.gguf")):
        shrink_vocab(vocab, out / f"small-{vocab.name}")
        shutil.copyfile(vocab, out / vocab.name)

    llama2c_checkpoint(args.out_dir / "llama2c" / "ckpt_shared.bin", shared=True)
    llama2c_checkpoint(args.out_dir / "llama2c" / "ckpt_unshared.bin", shared=False)
    llama2c_tokenizer(args.out_dir / "llama2c" / "tokenizer.bin")
    safetensors_seeds(args.out_dir / "safetensors")
    tokenizer_texts(args.shared_dir, args.out_dir / "tokenizer")
    tokenizer_json_seeds(args.shared_dir, Path(__file__).resolve().parents[2], args.out_dir / "tokenizer_json")
    for sub in ("gguf", "llama2c", "safetensors", "tokenizer", "tokenizer_json"):
        files = sorted((args.out_dir / sub).iterdir())
        print(f"{sub}: {len(files)} seeds, {sum(f.stat().st_size for f in files)} bytes")


if __name__ == "__main__":
    main()
