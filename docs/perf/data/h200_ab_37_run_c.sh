set -u
sh .devcarry/unpack.sh
sh .devcarry/peer/unpack.sh
cd .devcarry/bin && mv frugal frugal_x && cp frugal_head frugal && cp frugal_cuda_tests_head frugal_cuda_tests && cd ../..
OUT=${OUT:-/tmp/out}
card=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1); echo "card: $card"
if [[ "$card" == *H200* ]]; then timeout 330 bash scripts/device/h200_run.sh Q4_K Q8_0 BF16 > $OUT/run.txt 2>&1; tail -45 $OUT/run.txt
else . scripts/device/env.sh; .devcarry/bin/frugal synth --shape llama3-8b --type Q4_K --vocab .devcarry/vocab/ggml-vocab-llama-bpe.gguf -o /tmp/llama3-8b-Q4_K.gguf 2>&1 | tail -1; fi
F=.devcarry/bin/frugal; m=/tmp/llama3-8b-Q4_K.gguf
for v in "- 0" "x 0" "x 2" "x 3"; do
  set -- $v; b=$F; [ $1 != - ] && b=${F}_$1
  echo "ids [$v] $(FRUGAL_X_GLU=$2 $b run -m $m --device cuda --prompt-ids 1,791,6460,315,9822 -n 48 --temp 0 --print-ids 2>/dev/null | md5sum)"
done | tee $OUT/ids.txt
SKIP_TESTS=1 TYPES=Q4_K REPS=1 timeout 150 bash scripts/device/h200_ab.sh "-" "x FRUGAL_X_GLU=2" "x FRUGAL_X_GLU=3" "x FRUGAL_X_GLU=1" "-" "x FRUGAL_X_GLU=2" 2>&1 | tail -8
