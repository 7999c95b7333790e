#!/usr/bin/env bash
# Runs on the lent H200 (device tool), from the repository root with .devcarry/ carried (scripts/device/stage.sh
# with the llama.cpp server staged): serving throughput on a synthetic Llama-3-8B-shaped GGUF, frugal serve
# against llama.cpp's llama-server on the same file and card, 512-token prompts and 256-token outputs at
# concurrency 1, 16, 64 and 256, measured by frugal bench-serve. Results (JSON per run, server logs) go to $OUT.
# Usage: h200_serve.sh [TYPE] (default Q4_K); CONCURRENCY="1 16" to run fewer levels; SKIP_FRUGAL / SKIP_PEER
# leave one side out.
set -uo pipefail
. "$(dirname "$0")/env.sh"
t=${1:-Q4_K}
levels=${CONCURRENCY:-1 16 64 256}
nvidia-smi --query-gpu=name,memory.total,clocks.sm,clocks.mem,driver_version --format=csv | tee "$OUT/gpu.txt"
m=$(synth_llama3 "$t") || exit 1

wait_port() {  # port log
    for _ in $(seq 1 240); do
        curl -sf "http://127.0.0.1:$1/health" >/dev/null 2>&1 && return 0
        sleep 0.5
    done
    echo "server on port $1 did not come up"; tail -20 "$2"; return 1
}

bench() {  # name port [levels]
    for c in ${3:-$levels}; do
        n=$((c * 4)); [ $n -lt 16 ] && n=16
        [ $c -ge 256 ] && n=512
        # A seed per level: each level's prompts are new to the server (no prefix-cache hits from the level before).
        $F bench-serve --url "http://127.0.0.1:$2" -c $c -n $n --input-len 512 --output-len 256 --seed $c \
            --gpu-hour-price 3.5 --json > "$OUT/$1_c$c.json" 2> "$OUT/$1_c$c.err"
        python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(sys.argv[2], 'c=' + sys.argv[3], 'out tok/s %.1f' % d['output_throughput'], 'ttft p50 %.1f p99 %.1f ms' % (d['p50_ttft_ms'], d['p99_ttft_ms']), 'itl p50 %.2f p99 %.2f ms' % (d['p50_itl_ms'], d['p99_itl_ms']), 'errors', d['errors'])" "$OUT/$1_c$c.json" "$1" "$c" 2>&1 | tee -a "$OUT/summary.txt"
    done
}

if [ -z "${SKIP_FRUGAL:-}" ]; then
echo "== frugal serve"
$F serve -m $m --device cuda -c 1024 -b 2048 --max-num-seqs 256 --max-queue 4096 \
    --kv-cache-bytes $((40 << 30)) --port 8001 --gpu-hour-price 3.5 > "$OUT/frugal_serve.log" 2>&1 &
fpid=$!
wait_port 8001 "$OUT/frugal_serve.log" && bench frugal 8001
curl -s http://127.0.0.1:8001/metrics > "$OUT/frugal_metrics.txt"
kill $fpid; wait $fpid
fi

if [ -f "$root/.devcarry/peer/llama-server.xz" ] && [ -z "${SKIP_PEER:-}" ]; then
    echo "== llama.cpp llama-server"
    xz -dc "$root/.devcarry/peer/llama-server.xz" > /tmp/llama-server && chmod +x /tmp/llama-server
    # LLAMA_ARGS: more llama-server flags (e.g. --cache-ram 0: its host-memory prompt cache, on by default, copies
    # each finished slot's state out and made c=64 several times slower in our first run).
    /tmp/llama-server -m $m -ngl 99 -fa on -np 256 -c $((256 * 800)) -b 2048 -ub 512 --cont-batching \
        --host 127.0.0.1 --port 8002 ${LLAMA_ARGS:-} > "$OUT/llama_server.log" 2>&1 &
    lpid=$!
    wait_port 8002 "$OUT/llama_server.log" && bench llama 8002 "${LLAMA_CONCURRENCY:-$levels}"
    kill $lpid; wait $lpid
fi
cat "$OUT/summary.txt"
