"""`cohesive run`: the whole architecture as one stage graph over the existing stage functions.

Teachers -> cache -> distilled student -> LMGC-M (on the student and on the base encoder) -> WSD,
held-out MLM (forgetting), GLUE and paraphrase detection -> one report. `graph` knows nothing of
cohesive (stages, manifests, skip/resume); `stages` is the cohesive table; `report` the summary.
Top application layer: it imports every other package and only the CLI imports it.
"""
