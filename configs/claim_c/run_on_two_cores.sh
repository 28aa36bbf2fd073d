#!/bin/bash
# Claim C on a 2-core machine: three 1-thread processes (seed 1 of every backbone, then seed 3 of base;
# seed 2 of every backbone, then seed 3 of LMGC; seed 3 of LMGC-M alongside), which keeps both cores
# busy to the end (~25 min per backbone and seed on one free core, 9 runs: ~2 h 15 min), then one
# comparison over everything (it reads the finished runs back, trains nothing) into results/claim-c/.
# Killed, it resumes where it stopped. One process gives the same result, about twice as slowly:
#   cohesive paraphrase compare --config configs/claim_c/compare.yaml
#   bash configs/claim_c/run_on_two_cores.sh        (from anywhere; logs in logs/claim-c-*.log)
mkdir -p "$(dirname "$0")/../../logs"
cd "$(dirname "$0")/../.." && source .venv/bin/activate || exit 1
export OMP_NUM_THREADS=1
C=configs/claim_c/compare.yaml
BASE=base=runs/teachers-experts/minilm-mlm LMGC=lmgc=runs/claim-b/lmgc-backbone LMGCM=lmgcm=runs/claim-b/lmgcm-backbone
( cohesive paraphrase compare --config $C --set seeds=[1] --set results_dir=runs/claim-c-parts/a \
  && cohesive paraphrase compare --config $C --set seeds=[3] --set "backbones=[$BASE]" \
     --set results_dir=runs/claim-c-parts/a ) > logs/claim-c-a.log 2>&1 &
( cohesive paraphrase compare --config $C --set seeds=[2] --set results_dir=runs/claim-c-parts/b \
  && cohesive paraphrase compare --config $C --set seeds=[3] --set "backbones=[$LMGC]" \
     --set results_dir=runs/claim-c-parts/b ) > logs/claim-c-b.log 2>&1 &
cohesive paraphrase compare --config $C --set seeds=[3] --set "backbones=[$LMGCM]" \
  --set results_dir=runs/claim-c-parts/c > logs/claim-c-c.log 2>&1 &
wait
OMP_NUM_THREADS=2 cohesive paraphrase compare --config $C > logs/claim-c-all.log 2>&1
