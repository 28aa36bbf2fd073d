"""Throughput of student training: plain MLM vs cached 3-teacher KD vs online KD vs HF full-vocabulary MLM.

All four train the same student on the same batches (read from one teacher cache) with AdamW; each
mode runs in its own process so its peak RSS is its own. Ratios come from one run on one machine.

    python benchmarks/distill_throughput.py --teachers runs/teachers/minilm-mlm runs/teachers/bert-wordnet ...
    python benchmarks/distill_throughput.py            # teachers from runs/teachers/teachers.json

Targets: cached/plain >= 0.9, plain/HF-full >= 1.5, cache <= 256 bytes per masked token at k = 32.
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
    "cached": "(b) 3-teacher confidence-weighted KD from the cache",
    "online": "(c) same, teachers run online",
    "hf_full": "(d) HF BertForMaskedLM, full-vocabulary logits",
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--teachers", nargs="+", help="teacher dirs (default: runs/teachers/teachers.json)")
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


def default_teachers() -> list[str]:
    manifest = json.loads(Path("runs/teachers/teachers.json").read_text())
    return [t["path"] for t in manifest["teachers"]]


def build_cache_for_benchmark(args: argparse.Namespace, directory: Path) -> dict:
    from cohesive.corpora.text import corpus_fingerprint, mixed_texts, tokenize_blocks
    from cohesive.distill.cache import TeacherCache, build_cache
    from cohesive.distill.teachers import load_teachers

    teachers, tokenizer = load_teachers(args.teachers)
    needed = (args.steps + args.warmup) * args.batch_size
    texts = mixed_texts(["wordnet", "semcor"], "train", needed * 2)
    blocks = tokenize_blocks(texts, tokenizer, args.seq_len)[:needed]
    build_cache(blocks, tokenizer, teachers, directory, corpus_fingerprint=corpus_fingerprint(texts),
                top_k=args.top_k, shard_size=256)
    cache = TeacherCache(directory)
    return {"teachers": len(teachers), "top_k": args.top_k, "masked_tokens": cache.masked_tokens,
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
            elif args.worker == "cached":
                loss = distillation_loss(out, sparse_targets(batch, loss_config), loss_config)["loss"]
            else:
                with torch.no_grad():
                    t = [masked_lm_outputs(m, ids, mask, labels) for m in teachers]
                loss = distillation_loss(out, dense_targets([o.logits for o in t], out.gold, loss_config), loss_config)["loss"]
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    elapsed = time.perf_counter() - start
    return {"tokens_per_s": args.steps * args.batch_size * args.seq_len / elapsed,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def measure(args: argparse.Namespace, cache_dir: Path, mode: str) -> dict:
    command = [sys.executable, __file__, "--worker", mode, "--cache", str(cache_dir), "--seq-len", str(args.seq_len),
               "--batch-size", str(args.batch_size), "--steps", str(args.steps), "--warmup", str(args.warmup),
               "--student-layers", str(args.student_layers), "--student-hidden", str(args.student_hidden)]
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def report(results: dict, cache: dict) -> str:
    rows = ["| mode | tokens/s | peak RSS (MB) |", "|---|---|---|"]
    rows += [f"| {MODES[m]} | {r['tokens_per_s']:.0f} | {r['peak_rss_mb']:.0f} |" for m, r in results.items()]
    tps = {m: r["tokens_per_s"] for m, r in results.items()}
    checks = [
        ("cached KD / plain MLM", tps["cached"] / tps["plain"], ">= 0.9"),
        ("plain MLM / HF full-vocab", tps["plain"] / tps["hf_full"], ">= 1.5"),
        ("online KD / plain MLM", tps["online"] / tps["plain"], "(for reference)"),
    ]
    rows += ["", "| ratio | measured | target |", "|---|---|---|"]
    rows += [f"| {name} | {value:.2f} | {target} |" for name, value, target in checks]
    rows += ["", f"Cache at k = {cache['top_k']}, {cache['teachers']} teachers: "
             f"{cache['bytes_per_masked_token_per_teacher']:.0f} bytes per masked token per teacher, "
             f"{cache['bytes_per_masked_token']:.0f} in total (sequence arrays included; target <= 256)."]
    return "\n".join(rows)


def main() -> None:
    args = parse_args()
    if args.worker:
        print(json.dumps(run_worker(args)))
        return
    args.teachers = args.teachers or default_teachers()
    with tempfile.TemporaryDirectory() as tmp:
        cache = build_cache_for_benchmark(args, Path(tmp))
        results = {mode: measure(args, Path(tmp), mode) for mode in MODES}
    table = report(results, cache)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({"settings": {k: v for k, v in vars(args).items() if k not in ("worker", "cache", "output")},
                                       "cache": cache, "modes": results}, indent=2, default=str))
    args.output.with_suffix(".md").write_text(table + "\n")
    print(table)


if __name__ == "__main__":
    main()
