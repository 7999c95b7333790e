#!/bin/bash
# Gemma 3 270M: dequantized base, frugal rtn/imatrix/gptq vs llama.cpp's quantizer, KL on held-out text.
set -x
F=/tmp/b4/bin/frugal
G=/work/main/models/gemma-3-270m-q4_k_m.gguf
cd /tmp/g
python3 - <<'PY'
import pydoc_data.topics as t
text = "\n\n".join(t.topics[k] for k in sorted(t.topics))
n = len(text)
open('calib.txt', 'w').write(text[: n // 2])
open('eval.txt', 'w').write(text[n // 2 :])
print(n)
PY
$F quantize -m $G --type F32 --pure -o base-f32.gguf -t 2 > /dev/null 2> q_base.log
$F calibrate -m base-f32.gguf -f calib.txt -o stats.gguf --hessian -c 512 --chunks 8 -t 2 2> calib.log
for t in Q4_K Q4_0; do
  for m in rtn imatrix gptq awq; do
    $F quantize -m base-f32.gguf -o f_${t}_$m.gguf --type $t --method $m --imatrix stats.gguf -t 2 > f_${t}_$m.md 2> f_${t}_$m.log
  done
done
python3 - <<'PY' > llama_quant.log 2>&1
import llama_cpp
for name, ftype in (("Q4_K_S", 14), ("Q4_0", 2)):
    p = llama_cpp.llama_model_quantize_default_params()
    p.ftype = ftype
    p.nthread = 2
    rc = llama_cpp.llama_model_quantize(b"/tmp/g/base-f32.gguf", f"/tmp/g/l_{name}.gguf".encode(), p)
    print(name, rc)
PY
for f in f_*.gguf l_*.gguf; do
  $F perplexity -m $f -f eval.txt -c 512 --chunks 8 --kl-base base-f32.gguf --json -t 2 > ppl_${f%.gguf}.json 2> /dev/null
  echo "$f $(stat -c %s $f) $(python3 -c "import json; d=json.load(open('ppl_${f%.gguf}.json')); print(d['ppl'], d['base_ppl'], d['kl_mean'], d['kl_p99'], d['top1_agreement'])")" >> results.txt
done
echo done >> results.txt
