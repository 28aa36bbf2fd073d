#!/bin/bash
# Claim B's GLUE suite on a 2-core machine: two 1-thread processes with about equal work (RTE + CoLA,
# STS-B + MRPC: ~15 min each per model and seed), seed by seed, so every model has seed 1 before any
# has seed 2; then one suite over everything (it reads the finished seeds back, trains nothing) with
# the reference rows into results/claim-b/glue/. Killed, it resumes where it stopped. One process
# gives the same result, about twice as slowly:
#   cohesive nlu suite --config configs/claim_b/glue.yaml
#   bash configs/claim_b/run_glue_on_two_cores.sh        (from anywhere; logs in logs/glue-claim-b-*.log)
mkdir -p "$(dirname "$0")/../../logs"
cd "$(dirname "$0")/../.." && source .venv/bin/activate
export OMP_NUM_THREADS=1
C=configs/claim_b/glue.yaml
part() {  # part NAME TASK...: seeds [1], [1,2], [1,2,3] of these tasks for every model
  local name=$1; shift
  for seeds in "[1]" "[1,2]" "[1,2,3]"; do
    cohesive nlu suite --config $C --tasks "$@" --set seeds=$seeds --set references=false \
      --set results_dir=runs/claim-b/glue-parts/$name || return 1
  done
}
part rte-cola rte cola > logs/glue-claim-b-a.log 2>&1 &
part stsb-mrpc stsb mrpc > logs/glue-claim-b-b.log 2>&1 &
wait
OMP_NUM_THREADS=2 cohesive nlu suite --config $C > logs/glue-claim-b-all.log 2>&1
