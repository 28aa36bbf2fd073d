"""GLUE fine-tuning speed on CPU: examples/s before (every row padded to max_length, random batches)
and after (each batch padded to its longest row, batches of similar lengths via group_by_length),
the same mean-pooling MiniLM classifier, the same steps, in one run. Writes results/nlu/finetune_speed.md.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/nlu_finetune_speed.py --tasks stsb rte --steps 20
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from transformers import AutoTokenizer, DataCollatorWithPadding, Trainer, set_seed

from cohesive.corpora.glue import task_spec
from cohesive.models import load_pretrained, resolve_model
from cohesive.nlu.finetune import NluConfig, SeedRunner, training_arguments

ARMS = {  # name: (pad every row to max_length, group_by_length)
    "before: pad to max_length, random batches": (True, False),
    "after: dynamic padding + group_by_length": (False, True),
}


def examples_per_second(task: str, steps: int, batch_size: int, max_length: int, pad_to_max: bool,
                        grouped: bool) -> float:
    """Train `steps` steps from a fresh head and return training examples per second."""
    config = NluConfig(model="minilm", task=task, batch_size=batch_size, max_length=max_length,
                       max_steps=steps, group_by_length=grouped, save_steps=10 ** 6, logging_steps=10 ** 6)
    runner = SeedRunner(config, task_spec(task))
    tokenizer = load_pretrained(AutoTokenizer, resolve_model("minilm"))
    collator = DataCollatorWithPadding(tokenizer, padding="max_length" if pad_to_max else True,
                                       max_length=max_length if pad_to_max else None)
    set_seed(1)
    with tempfile.TemporaryDirectory() as scratch:
        args = training_arguments(config, 1, Path(scratch))
        args.disable_tqdm = True
        trainer = Trainer(model=runner.model(), args=args, train_dataset=runner.encode(runner.train_examples),
                          data_collator=collator, processing_class=tokenizer)
        started = time.perf_counter()
        trainer.train()
        return steps * batch_size / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=["stsb", "rte"])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--output", type=Path, default=Path("results/nlu/finetune_speed.md"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    names = list(ARMS)
    lines = [f"GLUE fine-tuning speed, mean-pooling MiniLM, {args.steps} steps of {args.batch_size}, max length "
             f"{args.max_length}, {args.threads} CPU thread(s) (`benchmarks/nlu_finetune_speed.py`).", "",
             f"| task | {names[0]} (ex/s) | {names[1]} (ex/s) | speed-up |", "|---|---|---|---|"]
    for task in args.tasks:
        rates = [examples_per_second(task, args.steps, args.batch_size, args.max_length, *ARMS[n]) for n in names]
        lines.append(f"| {task_spec(task).folder} | {rates[0]:.1f} | {rates[1]:.1f} | {rates[1] / rates[0]:.2f}x |")
        print(lines[-1], flush=True)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
