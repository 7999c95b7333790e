#!/usr/bin/env python3
"""Code point tables that make frugal's Unicode handling match Hugging Face tokenizers' own Unicode versions.

Hugging Face `tokenizers` normalizes (NFC/NFD/NFKC/NFKD) with the `unicode-normalization-alignments` crate, whose
tables are Unicode 9.0: code points assigned later are, to it, starters without decompositions (it does not
reorder, compose or decompose them). utf8proc knows them. frugal therefore normalizes the text between such code
points and passes them through unchanged (check_normalizer_version() below verifies the 9.0 claim against the
installed tokenizers).

Its pre-tokenizer regexes run on Oniguruma, whose Unicode tables are newer than PCRE2's on Debian 12 (10.42,
Unicode 14.0): \p{L}, \p{N}, \p{P}, \p{S} and \p{M} match more code points there. This script measures, with
the installed tokenizers, which code points each of them matches, and records those that Python's unicodedata
(Unicode 14.0, the same version as PCRE2 10.42) does not put in that category; frugal adds them to the property
in tokenizer.json regexes.

Writes src/tokenizer/hf_unicode_tables.inc:
  kAssignedAfterUnicode9  sorted [first, last] ranges of the code points assigned after Unicode 9.0 (from
                          DerivedAge.txt, Debian package unicode-data)
  kOnigPropertyExtras     {property letter, first, last}: code points tokenizers' regexes give that property
                          beyond Unicode 14.0
  kLowercaseExtras        {code point, lowercase}: where the Lowercase normalizer (Rust's char::to_lowercase,
                          a newer Unicode) differs from Python's str.lower (Unicode 14.0; utf8proc 2.8 agrees)

Run once (needs PyPI tokenizers):  python3 scripts/reference/make_hf_unicode_tables.py [/usr/share/unicode]
"""
import os
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
OUT = os.path.join(ROOT, "src", "tokenizer", "hf_unicode_tables.inc")


def read_ranges(path, keep):
    ranges = []
    for line in open(path, encoding="utf-8"):
        line = line.split("#")[0].strip()
        if not line:
            continue
        cps, value = [x.strip() for x in line.split(";")[:2]]
        first, _, last = cps.partition("..")
        if keep(value):
            ranges.append((int(first, 16), int(last or first, 16)))
    ranges.sort()
    merged = []
    for a, b in ranges:
        if merged and a <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(b, merged[-1][1]))
        else:
            merged.append((a, b))
    return merged


def version(v):
    return tuple(int(x) for x in v.split("."))


def check_normalizer_version(ucd):
    """Combining marks of Unicode <= 9.0 are reordered by tokenizers' NFC, later ones are not."""
    try:
        from tokenizers import normalizers
    except ImportError:
        print("tokenizers not installed: the Unicode 9.0 claim is not checked")
        return
    nfc = normalizers.NFC()
    age = {}
    for line in open(os.path.join(ucd, "DerivedAge.txt"), encoding="utf-8"):
        line = line.split("#")[0].strip()
        if line:
            cps, v = [x.strip() for x in line.split(";")[:2]]
            first, _, last = cps.partition("..")
            for cp in range(int(first, 16), int(last or first, 16) + 1):
                age[cp] = version(v)
    bad = 0
    for line in open(os.path.join(ucd, "UnicodeData.txt"), encoding="utf-8"):
        f = line.split(";")
        cp, ccc = int(f[0], 16), int(f[3])
        if ccc <= 1:
            continue
        text = "a" + chr(cp) + "\u0334"  # U+0334 has combining class 1: NFC puts it first if cp is known
        known = nfc.normalize_str(text) != text
        if known != (age[cp] <= (9, 0)):
            bad += 1
    print(f"tokenizers NFC vs Unicode 9.0 ages of combining marks: {bad} disagreements")
    if bad:
        sys.exit("the tables would not match this tokenizers version")


def onig_property_extras():
    """{property: sorted ranges} that tokenizers' \\p{X} matches beyond Python's unicodedata category X."""
    import unicodedata
    from tokenizers import Regex, pre_tokenizers
    print(f"unicodedata {unicodedata.unidata_version}")
    cps = [cp for cp in range(0x110000) if not 0xD800 <= cp <= 0xDFFF]
    extras = {}
    for prop in "LNPSM":
        split = pre_tokenizers.Split(Regex(r"\p{%s}" % prop), behavior="removed")
        matched = set()
        for i in range(0, len(cps), 4096):
            chunk = cps[i:i + 4096]
            kept = set()
            for _, (a, b) in split.pre_tokenize_str("".join(map(chr, chunk))):
                kept.update(range(a, b))
            matched.update(cp for k, cp in enumerate(chunk) if k not in kept)
        ucd = {cp for cp in cps if unicodedata.category(chr(cp))[0] == prop}
        if ucd - matched:
            sys.exit(f"\\p{{{prop}}}: {len(ucd - matched)} code points of Unicode 14 are not matched by tokenizers")
        ranges = []
        for cp in sorted(matched - ucd):
            if ranges and cp == ranges[-1][1] + 1:
                ranges[-1][1] = cp
            else:
                ranges.append([cp, cp])
        extras[prop] = ranges
        print(f"\\p{{{prop}}}: tokenizers matches {len(matched)}, Unicode 14 has {len(ucd)}: "
              f"{len(matched - ucd)} extra in {len(ranges)} ranges")
    return extras


def lowercase_extras():
    from tokenizers import normalizers
    lower = normalizers.Lowercase()
    extras = []
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        got = lower.normalize_str(chr(cp))
        if got != chr(cp).lower():
            if len(got) != 1:
                sys.exit(f"U+{cp:04X} lowercases to {len(got)} characters; the table holds one")
            extras.append((cp, ord(got)))
    print(f"Lowercase: {len(extras)} code points differ from Unicode 14.0")
    return extras


def main():
    ucd = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/unicode"
    check_normalizer_version(ucd)
    after9 = read_ranges(os.path.join(ucd, "DerivedAge.txt"), lambda v: version(v) > (9, 0))
    with open(OUT, "w", encoding="utf-8") as f:
        f.write("// Generated by scripts/reference/make_hf_unicode_tables.py from DerivedAge.txt; do not edit.\n")
        f.write("// Code points assigned after Unicode 9.0, sorted, inclusive ranges.\n")
        f.write("constexpr CodepointRange kAssignedAfterUnicode9[] = {\n")
        for i in range(0, len(after9), 4):
            f.write("    " + " ".join(f"{{0x{a:X}, 0x{b:X}}}," for a, b in after9[i:i + 4]) + "\n")
        f.write("};\n")
        extras = onig_property_extras()
        f.write("// Code points Hugging Face tokenizers' regexes give \\p{X} beyond Unicode 14.0, by property letter X.\n")
        f.write("constexpr PropertyExtra kOnigPropertyExtras[] = {\n")
        for prop, ranges in extras.items():
            for i in range(0, len(ranges), 3):
                f.write("    " + " ".join(f"{{'{prop}', 0x{a:X}, 0x{b:X}}}," for a, b in ranges[i:i + 3]) + "\n")
        f.write("};\n")
        f.write("// Lowercase normalizer mappings beyond Unicode 14.0: {code point, lowercase}, sorted.\n")
        f.write("constexpr CaseMapping kLowercaseExtras[] = {\n")
        pairs = lowercase_extras()
        for i in range(0, len(pairs), 4):
            f.write("    " + " ".join(f"{{0x{a:X}, 0x{b:X}}}," for a, b in pairs[i:i + 4]) + "\n")
        f.write("};\n")
    print(f"{len(after9)} ranges -> {os.path.normpath(OUT)}")


if __name__ == "__main__":
    main()
