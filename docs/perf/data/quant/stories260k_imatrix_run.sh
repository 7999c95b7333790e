#!/bin/bash
# stories260K: llama.cpp's llama-quantize with/without an importance matrix (llama-imatrix on the same calibration text)
# vs frugal's methods, same base GGUF, KL on the held-out text. 2026-11-29, frugal 4a017a8, llama.cpp 0c1e570
# (vendored in llama-cpp-python 0.3.36; build as in gemma3_270m_imatrix_run.sh), this 2-core VM.
S=/work/shared/models/stories260K; F=/tmp/quantbin/frugal; L=/tmp/lcp_build/bin; D=/work/main/tests/data/quant
cd /tmp/qcmp/st
$F convert -m $S/stories260K.bin --tokenizer $S/tok512.bin -o st.gguf > conv.log 2>&1
$L/llama-imatrix -m st.gguf -f $D/stories_calib.txt -o imatrix.gguf -c 128 --chunks 13 -t 2 > imatrix.log 2>&1
for t in Q4_0 Q5_0; do
  $L/llama-quantize --imatrix imatrix.gguf st.gguf li_$t.gguf $t 2 > li_$t.log 2>&1
  $L/llama-quantize st.gguf l_$t.gguf $t 2 > l_$t.log 2>&1
done
$F calibrate -m st.gguf -f $D/stories_calib.txt -o stats.gguf --hessian -c 128 -t 2 > calib.out 2> calib.log
for t in Q4_0 Q5_0; do for m in rtn imatrix gptq awq; do
  $F quantize -m st.gguf -o f_${t}_$m.gguf --type $t --method $m --imatrix stats.gguf -t 2 > f_${t}_$m.md 2> f_${t}_$m.log
done; done
for f in l_Q4_0 li_Q4_0 f_Q4_0_rtn f_Q4_0_imatrix f_Q4_0_gptq f_Q4_0_awq l_Q5_0 li_Q5_0 f_Q5_0_rtn f_Q5_0_imatrix f_Q5_0_gptq f_Q5_0_awq; do
  $F perplexity -m $f.gguf -f $D/stories_eval.txt -c 128 --kl-base st.gguf --json -t 2 > ppl_$f.json 2>/dev/null
  echo "$f $(stat -c %s $f.gguf) $(python3 -c "import json; d=json.load(open('ppl_$f.json')); print('%.4f %.4f %.5f %.4f %.4f %d' % (d['ppl'], d['base_ppl'], d['kl_mean'], d['kl_p99'], d['top1_agreement'], d['tokens_scored']))")" >> results.txt
done
