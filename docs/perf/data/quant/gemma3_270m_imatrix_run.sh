#!/bin/bash
# Gemma 3 270M: frugal's quantizer vs llama.cpp's llama-quantize WITH an importance matrix (llama-imatrix on the same
# calibration text), KL on the held-out text. Run on 2026-11-29, frugal 4a017a8, this 2-core VM.
# calib.txt, eval.txt, base-f32.gguf: as made by gemma3_270m_run.sh (first / second half of Python's pydoc topics;
# `frugal quantize --type F32 --pure` of models/gemma-3-270m-q4_k_m.gguf); the frugal Q4_K rtn/imatrix/awq and
# Q4_0 rtn/imatrix/gptq rows are that script's files and measurements (commit 7a3c835, no quantizer change since).
#
# llama.cpp: the source vendored in llama-cpp-python 0.3.36 (0.5.0-dev, commit 0c1e570), measurement tools only:
#   pip download llama-cpp-python==0.3.36 --no-binary :all: --no-deps -d /tmp/lcp_sdist && tar xzf ...
#   cmake -S .../vendor/llama.cpp -B /tmp/lcp_build -DGGML_NATIVE=ON -DLLAMA_CURL=OFF -DCMAKE_BUILD_TYPE=Release \
#         -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_OPENSSL=OFF
#   cmake --build /tmp/lcp_build --target llama-imatrix llama-quantize llama-perplexity -j2
#
# The steps ran in this order (the mix search overlapped the llama.cpp steps; all CPU-bound, 2 threads each).
set -x
F=/tmp/quantbin/frugal            # frugal at commit 4a017a8
L=/tmp/lcp_build/bin
cd /tmp/qcmp
ppl() {  # file -> one results line: name bytes ppl base_ppl kl_mean kl_p99 top1
  $F perplexity -m $1.gguf -f eval.txt -c 512 --chunks 4 --kl-base base-f32.gguf --json -t 2 > ppl_$1.json 2> /dev/null
  echo "$1 $(stat -c %s $1.gguf) $(python3 -c "import json; d=json.load(open('ppl_$1.json')); print('%.4f %.4f %.5f %.4f %.4f' % (d['ppl'], d['base_ppl'], d['kl_mean'], d['kl_p99'], d['top1_agreement']))")" >> results.txt
}
# frugal statistics (imatrix + Hessians) on 8 chunks of 512 tokens of calib.txt
$F calibrate -m base-f32.gguf -f calib.txt -o stats.gguf --hessian -c 512 --chunks 8 -t 2 > calib.out 2> calib.log
# frugal mix: sensitivities on 8 chunks of 16 tokens of calib.txt (-c 16: the 2-core time budget), GPTQ with stats.gguf
$F quantize -m base-f32.gguf -o f_mix_5.0.gguf --type Q4_K --method gptq --mix auto --target-bpw 5.0 \
   --calib calib.txt --imatrix stats.gguf -c 16 -t 2 > f_mix_5.0.md 2> f_mix_5.0.log
# llama.cpp importance matrix on the same 8 chunks of 512 tokens
$L/llama-imatrix -m base-f32.gguf -f calib.txt -o imatrix.gguf -c 512 --chunks 8 -t 2 > imatrix.log 2>&1
for t in Q4_K_S Q4_0 Q4_K_M; do
  $L/llama-quantize --imatrix imatrix.gguf base-f32.gguf li_$t.gguf $t 2 > li_$t.log 2>&1
done
for t in Q4_K_S Q4_0 Q4_K_M; do ppl li_$t; done
# exact type/size matches of frugal's files: llama.cpp's Q4_0 with an imatrix gives the first n_layer/8 ffn_down Q4_1;
# its Q4_K_S gives 2 ffn_down Q5_K and 4 attn_v Q5_1
$L/llama-quantize --imatrix imatrix.gguf --tensor-type ffn_down=q4_0 base-f32.gguf li_Q4_0_pure.gguf Q4_0 2 > li_Q4_0_pure.log 2>&1
ppl li_Q4_0_pure
$L/llama-quantize --imatrix imatrix.gguf --tensor-type ffn_down=q4_k --tensor-type attn_v=q5_0 base-f32.gguf li_Q4_K_S_same.gguf Q4_K_S 2 > li_Q4_K_S_same.log 2>&1
ppl li_Q4_K_S_same
ppl f_mix_5.0
# the Q4_K GPTQ file again with this binary (checked byte for byte against the 7a3c835 one), and Q4_0 AWQ (new)
$F quantize -m base-f32.gguf -o f_Q4_K_gptq.gguf --type Q4_K --method gptq --imatrix stats.gguf -t 2 > f_Q4_K_gptq.md 2> f_Q4_K_gptq.log
cmp f_Q4_K_gptq.gguf /tmp/g/f_Q4_K_gptq.gguf && echo "f_Q4_K_gptq identical to the 7a3c835 file" >> results.txt
ppl f_Q4_K_gptq
$F quantize -m base-f32.gguf -o f_Q4_0_awq.gguf --type Q4_0 --method awq --imatrix stats.gguf -t 2 > f_Q4_0_awq.md 2> f_Q4_0_awq.log
ppl f_Q4_0_awq
