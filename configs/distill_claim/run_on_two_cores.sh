#!/bin/bash
# The distillation claim on a 2-core machine (`mkdir` and `cd` make it work from any directory): 2 students x 5 arms x 3 seeds split over two 1-thread
# processes with about equal work, then one compare over everything (it reads the finished runs back)
# into results/distill/claim.{json,md,png}. One process gives the same result, about twice as slowly:
#   cohesive distill compare --config configs/distill_claim/compare.yaml
#   bash configs/distill_claim/run_on_two_cores.sh        (from anywhere; logs in logs/claim-*.log)
mkdir -p "$(dirname "$0")/../../logs"
cd "$(dirname "$0")/../.." && source .venv/bin/activate
export OMP_NUM_THREADS=1
C=configs/distill_claim/compare.yaml
P="--set results_dir=runs/distill-claim/partial"
FT="students={from-teacher: {student_from: ./runs/teachers-experts/minilm-mlm, learning_rate: 2.0e-4}}"
( cohesive distill compare --config $C $P --set "students={scratch: {}}" --set results_name=scratch \
  && cohesive distill compare --config $C $P --set "$FT" --set seeds=[3] --set variants=[mlm,single] --set results_name=ft-3a
) > logs/claim-a.log 2>&1 &
( cohesive distill compare --config $C $P --set "$FT" --set seeds=[1,2] --set results_name=ft-12 \
  && cohesive distill compare --config $C $P --set "$FT" --set seeds=[3] --set variants=[uniform,weighted,neg-entropy] --set results_name=ft-3b
) > logs/claim-b.log 2>&1 &
wait
OMP_NUM_THREADS=2 cohesive distill compare --config $C > logs/claim-all.log 2>&1

