#!/bin/bash
# frugal's --method imatrix with the importance-weighted scale search (src/quant/weighted_quants.cpp) and GPTQ on
# the grid that search picks, against the files and numbers of gemma3_270m_imatrix_run.sh / stories260k_imatrix_run.sh
# (same bases, calibration statistics, evaluation texts and KL command; llama.cpp's files are those scripts').
# 2026-11-29, this 2-core VM, 2 threads. F = frugal built from commit bd88ec7's quantizer code. The Gemma
# --method imatrix rows of imatrix_search_results.txt come from the same two commands run just before this script
# (same code; the run of this script was stopped after the GPTQ rows to meet a deadline); the intermediate variants
# measured the same way are listed there too.
set -x
F=/tmp/qw/frugal; D=/work/main/tests/data/quant; OUT=/tmp/qw/final; mkdir -p $OUT/st
row() {  # name, gguf, json -> one results line: name bytes ppl base_ppl kl_mean kl_p99 top1
  echo "$1 $(stat -c %s $2) $(python3 -c "import json; d=json.load(open('$3')); print('%.4f %.4f %.5f %.4f %.4f' % (d['ppl'], d['base_ppl'], d['kl_mean'], d['kl_p99'], d['top1_agreement']))")" >> $OUT/results.txt
}
# stories260K: st.gguf and stats.gguf as stories260k_imatrix_run.sh made them (calibrate -c 128 on stories_calib.txt)
S=/tmp/qcmp/st
for t in Q4_0 Q5_0; do for m in rtn imatrix gptq; do
  $F quantize -m $S/st.gguf -o $OUT/st/f_${t}_$m.gguf --type $t --method $m --imatrix $S/stats.gguf -t 2 \
     > $OUT/st/f_${t}_$m.md 2> $OUT/st/f_${t}_$m.log
  $F perplexity -m $OUT/st/f_${t}_$m.gguf -f $D/stories_eval.txt -c 128 --kl-base $S/st.gguf --json -t 2 \
     > $OUT/st/ppl_f_${t}_$m.json 2> /dev/null
  row st_f_${t}_$m $OUT/st/f_${t}_$m.gguf $OUT/st/ppl_f_${t}_$m.json
done; done
cmp $OUT/st/f_Q4_0_rtn.gguf $S/f_Q4_0_rtn.gguf && echo "st Q4_0 rtn identical to the earlier file" >> $OUT/results.txt
# Gemma 3 270M: base-f32.gguf, calib/eval texts and stats.gguf (calibrate --hessian -c 512 --chunks 8) from
# gemma3_270m_imatrix_run.sh
G=/tmp/qcmp
for m in gptq imatrix; do for t in Q4_0 Q4_K; do
  $F quantize -m $G/base-f32.gguf -o $OUT/g_${t}_$m.gguf --type $t --method $m --imatrix $G/stats.gguf -t 2 \
     > $OUT/g_${t}_$m.md 2> $OUT/g_${t}_$m.log
  $F perplexity -m $OUT/g_${t}_$m.gguf -f $G/eval.txt -c 512 --chunks 4 --kl-base $G/base-f32.gguf --json -t 2 \
     > $OUT/ppl_g_${t}_$m.json 2> /dev/null
  row g_${t}_$m $OUT/g_${t}_$m.gguf $OUT/ppl_g_${t}_$m.json
done; done
