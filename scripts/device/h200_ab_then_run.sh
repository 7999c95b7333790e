#!/usr/bin/env bash
# One H200 call for a staged variant (scripts/device/stage_variant.sh with TESTS=1): the A/B of TAG against the
# staged frugal (Q4_K, or TYPE; tg128 at depth 512 alternating REPS times, then twice each at depth 4096), and, when
# TAG is at least MIN_GAIN (default 1.01) times as fast at depth 512, the full h200_run.sh table with TAG's binaries
# put in place of frugal and frugal_cuda_tests, so the table measures the code the patch would commit. On any card
# other than an H200 it runs nothing (env.sh's REQUIRE_H200). Results: ab.txt, stories.txt, then h200_run.sh's files.
# Usage: h200_ab_then_run.sh TAG
set -uo pipefail
tag=${1:?variant tag}
dir=$(dirname "$0")
REQUIRE_H200=1
. "$dir/env.sh"
type=${TYPE:-Q4_K}
SKIP_TESTS=1 TYPES=$type REPS=${REPS:-2} bash "$dir/h200_ab.sh" - "$tag" - "$tag" > /dev/null
SKIP_TESTS=1 DEPTH=4096 TYPES=$type bash "$dir/h200_ab.sh" - "$tag" - "$tag" > /dev/null
cat "$OUT/ab.txt"
win=$(python3 - "$OUT/ab.txt" "$tag" "${MIN_GAIN:-1.01}" <<'PY'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    if "@ d512" not in line:
        continue
    name = line.split("[")[1].split("]")[0].split()[0]
    runs.setdefault(name, []).append(float(line.split("|")[5]))
base, var = statistics.mean(runs["-"]), statistics.mean(runs[sys.argv[2]])
print(f"d512 mean: base {base:.1f}, {sys.argv[2]} {var:.1f}, ratio {var / base:.4f}", file=sys.stderr)
print(1 if var >= float(sys.argv[3]) * base else 0)
PY
)
[ "$win" = 1 ] || { echo "$tag is not ahead by the margin: no table run"; exit 0; }
bin=$root/.devcarry/bin
cp "$bin/frugal_$tag" "$bin/frugal"
[ -f "$bin/frugal_cuda_tests_$tag" ] && cp "$bin/frugal_cuda_tests_$tag" "$bin/frugal_cuda_tests"
bash "$dir/h200_run.sh" Q4_K Q8_0 BF16 > /dev/null 2>&1
tail -4 "$OUT/checks.txt"
grep -hE "^\| .*(pp512|tg128)" "$OUT/bench.txt" "$OUT/llama.txt" | head -24
