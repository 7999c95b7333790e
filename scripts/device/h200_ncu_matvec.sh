#!/usr/bin/env bash
# Runs on the lent H200 (device tool) with .devcarry/ carried: ncu's detailed sections (speed of light, memory
# workload, warp states, scheduler, occupancy) for the decode matrix-vector kernels of a synthetic Llama-3-8B, one
# kernel of each shape: the questions are what bounds them (DRAM, L1/LSU, issue, latency) and where warps stall.
# Usage: [CLOCK=none|base] h200_ncu_matvec.sh [TYPE ...] (default Q4_K)
# CLOCK: ncu's --clock-control. The default, none, leaves the SM clock where decode runs it (~1.98 GHz); ncu's own
# default, base, locks it at ~1.43 GHz, which makes these kernels look more issue-bound than they are (the runs up to
# 48eabfa used base).
set -uo pipefail
. "$(dirname "$0")/env.sh"
nvidia-smi --query-gpu=name,clocks.max.sm,clocks.max.mem --format=csv,noheader
for t in "${@:-Q4_K}"; do
    m=$(synth_llama3 "$t") || continue
    # Decode steps only (-p 0): skip the warm-up's launches, then one step's worth of matrix kernels (q/k/v, wo,
    # gate+up, down of a layer, and the output projection once).
    stalls=""
    for r in long_scoreboard lg_throttle mio_throttle short_scoreboard wait math_pipe_throttle not_selected selected \
             barrier no_instruction dispatch_stall drain imc_miss branch_resolving membar tex_throttle sleeping; do
        stalls="$stalls,smsp__average_warps_issue_stalled_${r}_per_issue_active.ratio"
    done
    ncu --clock-control "${CLOCK:-none}" --graph-profiling node --kernel-name regex:matvec --launch-skip 300 --launch-count 8 \
        --section SpeedOfLight --section MemoryWorkloadAnalysis --section WarpStateStats --section SchedulerStats \
        --section Occupancy --section LaunchStats \
        --metrics smsp__inst_executed_pipe_lsu.sum,l1tex__data_pipe_lsu_wavefronts.sum,l1tex__t_requests_pipe_lsu_mem_global_op_ld.sum,l1tex__t_sectors_pipe_lsu_mem_global_op_ld.sum,dram__bytes_read.sum,smsp__inst_executed.sum,sm__inst_executed_pipe_lsu.avg.pct_of_peak_sustained_active,l1tex__data_pipe_lsu_wavefronts.avg.pct_of_peak_sustained_elapsed,smsp__average_warp_latency_issue_stalled_long_scoreboard.ratio,smsp__issue_active.avg.pct_of_peak_sustained_active,l1tex__data_pipe_lsu_wavefronts_mem_shared.sum,l1tex__m_xbar2l1tex_read_bytes.sum$stalls \
        $F bench -m $m --device cuda -p 0 -n 8 -r 1 --no-memory-bandwidth > "$OUT/ncu_matvec_$t.txt" 2>&1
    grep -E "matvec|stalled|issue_active|xbar|Duration|DRAM Throughput|Memory Throughput|L1/TEX Hit|Compute \(SM\)|Achieved Occupancy|Theoretical Occupancy|Registers Per|Block Limit|Stall|Issued Warp|No Eligible|Active Warps|Eligible Warps|lsu|wavefronts|sectors|requests|dram__bytes|inst_executed|Grid Size|Waves" "$OUT/ncu_matvec_$t.txt" | head -400 > "$OUT/ncu_matvec_${t}_summary.txt"
done
