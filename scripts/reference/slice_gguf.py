#!/usr/bin/env python3
"""Writes a smaller GGUF cut from a real one: its first L layers and the first V entries of its vocabulary.

The device tool moves at most 64 MiB to the GPU machine, and a real model such as Gemma 3 270M (253 MB, 178 MB of
it the 262,144-row embedding) does not fit. A slice keeps the file's own quantized tensors byte for byte (every
type, every real weight of the layers kept), its metadata and its tokenizer's first V entries, so the GPU can be
checked against the CPU on real weights (tests/cuda/cuda_real_model_test.cpp). It is not a usable language model:
layers are missing, and the output projection (tied to the embedding, or cut the same way) covers V tokens.

    pip install gguf
    python3 scripts/reference/slice_gguf.py models/gemma-3-270m-q4_k_m.gguf /tmp/gemma3-slice.gguf \
        --layers 2 --vocab 4096 --sliding-window-period 2

--sliding-window-period P (Gemma 3) writes the layer pattern into the slice: every P-th layer global, the others
sliding-window (the file's own is every 6th), so that a slice of few layers still has both kinds.
"""
import argparse
import sys

import numpy as np
from gguf import GGMLQuantizationType, GGUFReader, GGUFValueType, GGUFWriter

VOCAB_ROW_TENSORS = ("token_embd.weight", "output.weight")


def field_value(field):
    """The Python value of a reader field (scalars, strings and arrays of either)."""
    kind = field.types[0]
    if kind == GGUFValueType.ARRAY:
        sub = field.types[1]
        if sub == GGUFValueType.STRING:
            return [bytes(field.parts[i]).decode("utf-8", errors="surrogateescape") for i in field.data]
        return [field.parts[i].tolist()[0] for i in field.data]
    if kind == GGUFValueType.STRING:
        return bytes(field.parts[field.data[0]]).decode("utf-8", errors="surrogateescape")
    return field.parts[field.data[0]].tolist()[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("input")
    ap.add_argument("output")
    ap.add_argument("--layers", type=int, required=True, help="layers to keep (the first L)")
    ap.add_argument("--vocab", type=int, required=True, help="vocabulary entries to keep (the first V)")
    ap.add_argument("--sliding-window-period", type=int, default=0, help="every P-th layer global (Gemma 3)")
    a = ap.parse_args()

    r = GGUFReader(a.input)
    arch = field_value(r.fields["general.architecture"])
    old_layers = field_value(r.fields[f"{arch}.block_count"])
    if not 0 < a.layers <= old_layers:
        sys.exit(f"--layers must be in 1..{old_layers}")
    old_vocab = next(int(t.shape[1]) for t in r.tensors if t.name == "token_embd.weight")
    if not 0 < a.vocab <= old_vocab:
        sys.exit(f"--vocab must be in 1..{old_vocab}")

    w = GGUFWriter(a.output, arch)
    for name, field in r.fields.items():
        if name.startswith("GGUF.") or name == "general.architecture":
            continue
        value = field_value(field)
        if name == f"{arch}.block_count":
            value = a.layers
        elif name.startswith("tokenizer.ggml.") and isinstance(value, list) and len(value) == old_vocab:
            value = value[: a.vocab]
        elif name.endswith("sliding_window_pattern"):
            if a.sliding_window_period > 0:
                continue  # written below
            if isinstance(value, list):
                value = value[: a.layers]
        elif name.startswith("tokenizer.ggml.") and name.endswith("_token_id") and value >= a.vocab:
            continue  # a special token the slice no longer has
        elif name == "general.name":
            value = f"{value} (first {a.layers} layers, first {a.vocab} tokens)"
        sub = field.types[1] if field.types[0] == GGUFValueType.ARRAY else None
        w.add_key_value(name, value, field.types[0], sub_type=sub)

    if a.sliding_window_period > 0:
        w.add_key_value(f"{arch}.attention.sliding_window_pattern", a.sliding_window_period, GGUFValueType.UINT32)
    kept = 0
    for t in r.tensors:
        if t.name.startswith("blk.") and int(t.name.split(".")[1]) >= a.layers:
            continue
        data = np.asarray(t.data)
        shape = [int(d) for d in t.shape]  # ggml order: row length first
        if t.name in VOCAB_ROW_TENSORS:
            data = data[: a.vocab]
            shape[1] = a.vocab
        qtype = GGMLQuantizationType(t.tensor_type)
        if qtype in (GGMLQuantizationType.F32, GGMLQuantizationType.F16):
            w.add_tensor(t.name, np.ascontiguousarray(data).reshape(list(reversed(shape))))
        else:
            w.add_tensor(t.name, np.ascontiguousarray(data), raw_shape=data.shape, raw_dtype=qtype)  # rows x bytes
        kept += 1
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    print(f"{a.output}: {kept} tensors, {a.layers} of {old_layers} layers, {a.vocab} of {old_vocab} tokens")


if __name__ == "__main__":
    main()
