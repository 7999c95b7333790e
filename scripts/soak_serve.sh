#!/usr/bin/env bash
# Soak test of frugal serve on the CPU: stories260K, 200 concurrent clients for DURATION seconds (default 300)
# through frugal bench-serve with random cancellations, a queue small enough that some clients get 429. Samples
# the server's resident memory every 5 s and reads /metrics at the end (KV blocks used must be 0).
# Usage: scripts/soak_serve.sh BUILD_DIR OUT_DIR [DURATION]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:?build dir}
out=${2:?output dir}
duration=${3:-300}
F=$build/bin/frugal
S=../shared/models/stories260K
mkdir -p "$out"
$F serve -m $S/stories260K.bin --tokenizer $S/tok512.bin --port 0 -t 1 --max-num-seqs 64 --max-queue 64 \
    --gpu-hour-price 1.0 2> "$out/soak_server.log" &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do grep -q "listening on" "$out/soak_server.log" && break; sleep 0.1; done
port=$(grep -o "127.0.0.1:[0-9]*" "$out/soak_server.log" | head -1 | cut -d: -f2)
echo "seconds,rss_kib" > "$out/soak_rss.csv"
(
    t=0
    while kill -0 $pid 2>/dev/null; do
        echo "$t,$(awk '/VmRSS/ {print $2}' /proc/$pid/status)" >> "$out/soak_rss.csv"
        sleep 5
        t=$((t + 5))
    done
) &
sampler=$!
$F bench-serve --url "http://127.0.0.1:$port" -c 200 --duration "$duration" --cancel-rate 0.2 --input-len 64 \
    --output-len 128 --gpu-hour-price 1.0 --json > "$out/soak_bench.json" 2> "$out/soak_bench.err" || true
sleep 2
curl -s "http://127.0.0.1:$port/metrics" > "$out/soak_metrics.txt"
kill $sampler 2>/dev/null || true
grep -E "^frugal_(kv_cache_blocks_used|requests_running|requests_waiting|requests_finished_total|requests_rejected_total|preemptions_total|prefix_cache_hit_rate) " "$out/soak_metrics.txt" || true
grep -E "^frugal_requests_finished_total" "$out/soak_metrics.txt" || true
python3 - "$out" <<'PY'
import csv, json, sys
out = sys.argv[1]
b = json.load(open(f"{out}/soak_bench.json"))
rss = [int(r["rss_kib"]) for r in csv.DictReader(open(f"{out}/soak_rss.csv")) if r["rss_kib"]]
print(json.dumps({k: b[k] for k in ("completed", "cancelled", "rejected", "errors", "duration_s", "output_throughput")
                  if k in b}))
if rss:
    half = len(rss) // 2
    print(f"RSS KiB: first {rss[0]}, max {max(rss)}, last {rss[-1]}; mean of 1st half {sum(rss[:half]) / max(half, 1):.0f},"
          f" 2nd half {sum(rss[half:]) / max(len(rss) - half, 1):.0f}")
PY
