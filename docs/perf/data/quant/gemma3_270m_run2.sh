#!/bin/bash
F=/tmp/b4/bin/frugal
cd /tmp/g
python3 - <<'PY' > llama_quant.log 2>&1
import llama_cpp
for name, ftype in (("Q4_K_S", 14), ("Q4_0", 2), ("Q4_K_M", 15)):
    p = llama_cpp.llama_model_quantize_default_params()
    p.ftype = ftype
    p.nthread = 2
    rc = llama_cpp.llama_model_quantize(b"/tmp/g/base-f32.gguf", f"/tmp/g/l_{name}.gguf".encode(), p)
    print(name, rc)
PY
for f in l_Q4_K_S f_Q4_K_rtn f_Q4_K_gptq f_Q4_K_imatrix f_Q4_K_awq l_Q4_0 f_Q4_0_rtn f_Q4_0_gptq f_Q4_0_imatrix l_Q4_K_M; do
  $F perplexity -m $f.gguf -f eval.txt -c 512 --chunks 4 --kl-base base-f32.gguf --json -t 2 > ppl_$f.json 2> /dev/null
  echo "$f $(stat -c %s $f.gguf) $(python3 -c "import json; d=json.load(open('ppl_$f.json')); print('%.4f %.4f %.5f %.4f %.4f' % (d['ppl'], d['base_ppl'], d['kl_mean'], d['kl_p99'], d['top1_agreement']))")" >> results2.txt
done
echo done >> results2.txt
