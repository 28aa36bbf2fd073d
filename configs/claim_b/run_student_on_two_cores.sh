#!/bin/bash
# Claim B's fourth row (issue 14): the distilled student + LMGC-M — the cohesive architecture's model —
# through the same WSD, masked-LM and GLUE measurements as the start,
# LMGC and LMGC-M rows. Each step resumes or skips what is done; killed, run it again.
#   1. the teachers (the general teacher = the start, and the three domain experts)
#   2. their cache and the student: issue 13's "weighted" arm (every other layer of the start, 3 x 384,
#      gold-confidence-weighted mixture of the four teachers, 400 steps), seed 1
#   3. LMGC-M on the student: configs/claim_b/wsd_lmgcm.yaml with the student as its start
#   4. its backbone, the held-out MLM scores of start / student / student + LMGC-M
#   5. GLUE, 3 seeds, in two 1-thread processes, then the table with the earlier rows
#      (configs/claim_b/glue_student.yaml reads results/claim-b/glue/results.json back)
#   bash configs/claim_b/run_student_on_two_cores.sh      (from anywhere; logs in logs/claim-b-student-*.log)
mkdir -p "$(dirname "$0")/../../logs"
cd "$(dirname "$0")/../.." && source .venv/bin/activate || exit 1
set -e
L=logs/claim-b-student
START=runs/teachers-experts/minilm-mlm
STUDENT=runs/claim-b/student
cohesive teachers build --config configs/teachers_experts.yaml > $L-teachers.log 2>&1
cohesive distill cache --config configs/distill_claim/cache.yaml > $L-cache.log 2>&1
cohesive distill train --config configs/distill_claim/train.yaml --set student_from=$START \
  --set learning_rate=2.0e-4 --set seed=1 --set output_dir=$STUDENT > $L-distill.log 2>&1
cohesive wsd train --config configs/claim_b/wsd_lmgcm.yaml --set model=$STUDENT \
  --set output_dir=runs/claim-b/lmgcm-student > $L-wsd.log 2>&1
cohesive wsd backbone --model runs/claim-b/lmgcm-student --output runs/claim-b/lmgcm-student-backbone
cohesive distill evaluate --models $START $STUDENT runs/claim-b/lmgcm-student-backbone \
  --output results/claim-b/mlm-student.json > $L-mlm.log 2>&1
export OMP_NUM_THREADS=1
C=configs/claim_b/glue_student.yaml
part() {  # part NAME TASK...: seeds [1], [1,2], [1,2,3] of these tasks
  local name=$1; shift
  for seeds in "[1]" "[1,2]" "[1,2,3]"; do
    cohesive nlu suite --config $C --tasks "$@" --set seeds=$seeds --set references=false --set measured=[] \
      --set results_dir=runs/claim-b/glue-student-parts/$name || return 1
  done
}
part rte-cola rte cola > $L-glue-a.log 2>&1 &
part stsb-mrpc stsb mrpc > $L-glue-b.log 2>&1 &
wait
OMP_NUM_THREADS=2 cohesive nlu suite --config $C > $L-glue-all.log 2>&1
