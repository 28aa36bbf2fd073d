"""SemCor instances per second of the WSD trainers: today's BEM bi-encoder vs the gloss-bank trainer.

Both train on the same SemCor instances (those of the first sentences, `--instances` of them), with
the settings of their shipped configs, one optimiser step at a time exactly as `cohesive wsd train`
batches them (its collators, samplers and models), each in its own process so that its peak RSS is
its own. One untimed warm-up step first; then the clock runs over every batch of those instances.

  bem   configs/bem.yaml: context and gloss encoders both trained, 16 instances per step, gold + up
        to 7 candidate glosses each encoded with gradients (the trainer of the 2%-of-SemCor model);
  bank  configs/wsd_default.yaml: LoRA context encoder, whole sentences per step (one context pass
        serves every target), all candidate senses scored against frozen gloss-bank vectors. The bank
        is built before the clock starts and timed apart ("bank build"), from an empty cache: it is a
        one-off cost per base model (~2 min for all of SemCor's senses, then read from disk).

    python benchmarks/wsd_train_speed.py                  # 480 instances each, writes results/wsd/train_speed.*
    python benchmarks/wsd_train_speed.py --instances 96   # smoke run

Targets (issue 10): bank >= 20x bem instances/s; a full SemCor epoch (225,550 instances) <= 60 min.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = {"bem": ROOT / "configs" / "bem.yaml", "bank": ROOT / "configs" / "wsd_default.yaml"}
SEMCOR_INSTANCES = 225_550
TARGET_SPEEDUP = 20.0
TARGET_EPOCH_MIN = 60.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--instances", type=int, default=480, help="SemCor instances each trainer trains on")
    parser.add_argument("--output", type=Path, default=ROOT / "results" / "wsd" / "train_speed",
                        help="writes OUTPUT.json and OUTPUT.md")
    parser.add_argument("--worker", choices=list(CONFIGS), help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def first_instances(count: int) -> tuple[list, dict]:
    """The instances of the first SemCor sentences (whole sentences, at least `count` instances) and gold."""
    from cohesive.corpora.raganato import gold_path, iter_instances, read_keys
    from cohesive.paths import semcor_prefix

    instances = list(itertools.islice(iter_instances(semcor_prefix()), count))
    last = instances[-1].sentence.id
    instances += list(itertools.takewhile(lambda i: i.sentence.id == last,
                                          itertools.islice(iter_instances(semcor_prefix()), count, None)))
    return instances, read_keys(gold_path(semcor_prefix()))


def training_setup(mode: str, instances: list, gold: dict):
    """The model, the batches (as the trainer's sampler orders them) and the collator of one mode."""
    from transformers import AutoTokenizer

    from cohesive.config import load_config
    from cohesive.lexicon import lexicon
    from cohesive.models import load_pretrained
    from cohesive.wsd.data import PairEncoder, Sampling
    from cohesive.wsd.train import BiEncoderSystem, GlossBankSystem, freeze_input_embeddings
    from cohesive.wsd.types import WsdTrainConfig

    config = load_config(WsdTrainConfig, CONFIGS[mode], {"instance_share": 1.0})
    tokenizer = load_pretrained(AutoTokenizer, config.model)
    system = (BiEncoderSystem if mode == "bem" else GlossBankSystem)(config, tokenizer)
    if config.freeze_embeddings:
        freeze_input_embeddings(system.model)
    encoder = PairEncoder(tokenizer, lexicon(), config.max_length, config.max_gloss_tokens, marker="")
    sampling = Sampling(1.0, config.max_candidates, config.negatives_per_positive, config.seed)
    pairs = encoder.build(instances, gold, sampling)
    dataset = system.dataset(pairs)
    order = list(system.sampler(dataset, config.batch_size, config.seed))
    if mode == "bem":  # the Trainer cuts the sampler's order into batches of `batch_size` instances
        batches = [[dataset[i] for i in order[s:s + config.batch_size]] for s in range(0, len(order), config.batch_size)]
    else:  # one pre-made sentence batch per step
        batches = [[dataset[i]] for i in order]
    started = time.perf_counter()
    collate = system.collator(pairs)  # gloss-bank: builds the bank (empty cache) here
    return system.model, batches, collate, config, time.perf_counter() - started


class Phases:
    """Seconds spent per phase of a step; the model's context and gloss encoders are timed by wrapping
    their methods (the rest of the forward pass is the scoring and the loss)."""

    def __init__(self, model):
        self.seconds = dict.fromkeys(("collate", "context forward", "gloss forward", "score + loss", "backward",
                                      "optimiser"), 0.0)
        for method, phase in (("context_vectors", "context forward"), ("gloss_vectors", "gloss forward")):
            setattr(model, method, self.timed(getattr(model, method), phase))

    def timed(self, function, phase: str):
        def wrapper(*args, **kwargs):
            started = time.perf_counter()
            result = function(*args, **kwargs)
            self.seconds[phase] += time.perf_counter() - started
            return result
        return wrapper

    def add(self, phase: str, seconds: float) -> None:
        self.seconds[phase] += seconds


def run_worker(mode: str, count: int) -> dict:
    import torch

    torch.manual_seed(0)
    instances, gold = first_instances(count)
    model, batches, collate, config, setup_s = training_setup(mode, instances, gold)
    model.train()
    optimiser = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=config.learning_rate)
    phases = Phases(model)

    def step(batch) -> None:
        clock = time.perf_counter()
        inputs = collate(batch)
        phases.add("collate", time.perf_counter() - clock)
        clock = time.perf_counter()
        loss = model(**inputs).loss
        phases.add("score + loss", time.perf_counter() - clock)
        clock = time.perf_counter()
        loss.backward()
        phases.add("backward", time.perf_counter() - clock)
        clock = time.perf_counter()
        optimiser.step()
        optimiser.zero_grad()
        phases.add("optimiser", time.perf_counter() - clock)

    step(batches[0])  # warm-up, untimed
    phases.seconds = dict.fromkeys(phases.seconds, 0.0)
    started = time.perf_counter()
    for batch in batches:
        step(batch)
    seconds = time.perf_counter() - started
    profile = dict(phases.seconds)
    profile["score + loss"] -= profile["context forward"] + profile["gloss forward"]  # forward minus the encoders
    return {"mode": mode, "instances": len(instances), "steps": len(batches), "seconds": seconds,
            "profile_s": profile,
            "instances_per_s": len(instances) / seconds, "bank_build_s": setup_s if mode == "bank" else None,
            "trainable_parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def measure(mode: str, count: int, cache: Path) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        command = [sys.executable, __file__, "--worker", mode, "--instances", str(count), "--result", out.name]
        env = {**os.environ, "TQDM_DISABLE": "1", "COHESIVE_CACHE": str(cache)}
        done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
        if done.returncode != 0:
            sys.exit(f"{mode} worker failed:\n{done.stderr[-3000:]}")
        return json.loads(Path(out.name).read_text())


def report(results: dict[str, dict], environment: dict) -> str:
    bem, bank = results["bem"], results["bank"]
    speedup = bank["instances_per_s"] / bem["instances_per_s"]
    epoch_min = SEMCOR_INSTANCES / bank["instances_per_s"] / 60
    lines = [f"# WSD training speed ({environment['when']}, {environment['cpus']} CPUs, torch threads "
             f"{environment['threads']})", "",
             f"The first {bank['instances']} SemCor instances (whole sentences), one optimiser step per batch, "
             "one untimed warm-up step; `python benchmarks/wsd_train_speed.py`.", "",
             "| trainer | steps | seconds | instances/s | trainable parameters | peak RSS (MB) |", "|---|---|---|---|---|---|"]
    for name, r in (("BEM bi-encoder (configs/bem.yaml)", bem), ("gloss-bank bi-encoder (configs/wsd_default.yaml)", bank)):
        lines.append(f"| {name} | {r['steps']} | {r['seconds']:.1f} | {r['instances_per_s']:.1f} | "
                     f"{r['trainable_parameters']:,} | {r['peak_rss_mb']:.0f} |")
    lines += ["", "| ratio / projection | measured | target |", "|---|---|---|",
              f"| gloss-bank / BEM instances per second | {speedup:.1f}x | >= {TARGET_SPEEDUP:.0f}x |",
              f"| one SemCor epoch ({SEMCOR_INSTANCES:,} instances) at that rate | {epoch_min:.0f} min | "
              f"<= {TARGET_EPOCH_MIN:.0f} min |",
              f"| BEM, same epoch | {SEMCOR_INSTANCES / bem['instances_per_s'] / 3600:.1f} h | — |", "",
              f"Gloss bank for these instances' senses, built from an empty cache before the clock: "
              f"{bank['bank_build_s']:.1f} s (once per base model; cached on disk).", "",
              "Where a step's time goes (share of the timed seconds):", "",
              "| phase | " + " | ".join(bem["profile_s"]) + " |", "|---|" + "---|" * len(bem["profile_s"])]
    for name, r in (("BEM", bem), ("gloss bank", bank)):
        lines.append(f"| {name} | " + " | ".join(f"{100 * v / r['seconds']:.0f}%" for v in r["profile_s"].values()) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    args = parse_args()
    if args.worker:
        args.result.write_text(json.dumps(run_worker(args.worker, args.instances)))
        return
    import torch

    with tempfile.TemporaryDirectory() as cache:
        results = {mode: measure(mode, args.instances, Path(cache)) for mode in CONFIGS}
    environment = {"when": time.strftime("%Y-%m-%d"), "cpus": os.cpu_count(), "threads": torch.get_num_threads(),
                   "machine": platform.machine(), "python": platform.python_version(), "torch": torch.__version__}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.with_suffix(".json").write_text(json.dumps({"results": results, "environment": environment}, indent=2))
    text = report(results, environment)
    args.output.with_suffix(".md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
