"""Time to predict a Raganato dataset: batched cross-encoder vs cached bi-encoder vs a naive pair loop.

Modes, each run in its own process so its peak RSS is its own (ratios come from one run on one machine):

  cross   the LMGC cross-encoder as `cohesive wsd predict` runs it (`CrossEncoder.predict`): every
          candidate of an instance in the same batch, batches sorted by length, glosses tokenised once;
  bi      the BEM bi-encoder (`BiEncoderPredictor.predict`): one context pass per sentence, gloss
          vectors encoded once per sense and cached (the cache starts empty: its cost is timed);
  naive   the same cross-encoder model, but each candidate pair is tokenised (context and gloss) and
          scored on its own, batch size 1. Its pairs are token for token those of `cross`, so both must
          give the same answers; this is asserted on the instances they share;
  bank    the gloss-bank bi-encoder (default: the model shipped with the package) as `cohesive wsd
          predict` runs it, with its tuned sense prior: LoRA merged into the context encoder, one context
          pass per sentence, gloss vectors from a gloss bank that starts empty (a fresh cache folder), so
          encoding every candidate gloss of the set is timed too.

Each mode pays the same WordNet look-ups (candidate senses and glosses); they are timed apart ("WordNet
(s)") and counted in the end-to-end time checked against the targets. Loading the model and the
WordNet index is a fixed start-up cost, timed apart ("load (s)") and not counted. Each model gets one
untimed warm-up forward pass on a dummy input first. The naive loop is slow: by default it runs on
`--naive-limit` instances spread evenly over the dataset, and its time is extrapolated to the whole
set by its measured seconds per pair (the report says so).

    python benchmarks/wsd_predict_speed.py                                   # ALL, untrained MiniLM models
    python benchmarks/wsd_predict_speed.py --cross-model runs/lmgc/minilm --bi-model runs/lmgc/bem
    python benchmarks/wsd_predict_speed.py --dataset SE07 --limit 40 --naive-limit 10   # smoke run
    python benchmarks/wsd_predict_speed.py --modes bank        # the shipped model on ALL, cold gloss cache

Without --cross-model / --bi-model, untrained MiniLM-initialised models (random pair head) are built in
a temporary folder: speed does not depend on training (F1 does: it is near chance then, and printed
only to show that the modes agree).

Targets (ALL = 7,253 instances): cross-encoder <= 15 min, bi-encoder <= 3 min, cross-encoder >= 5x
faster than the naive loop (issue 4); the shipped gloss-bank model <= 2 min, cold cache included (issue 10).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from itertools import islice
from pathlib import Path
from typing import Self

MODES = {
    "cross": "cross-encoder, batched per instance",
    "bi": "bi-encoder, cached gloss vectors",
    "naive": "naive loop, one pair at a time",
    "bank": "gloss-bank bi-encoder, cold gloss bank",
}
ALL_INSTANCES = 7253
TARGET_CROSS_S = 15 * 60
TARGET_BI_S = 3 * 60
TARGET_BANK_S = 2 * 60
TARGET_SPEEDUP = 5.0
TIE_TOLERANCE = 1e-4  # |score gap| under which a differing argmax counts as a numerical tie


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="ALL", help="Raganato set (SE2, SE3, SE07, SE13, SE15, ALL) or path prefix")
    parser.add_argument("--limit", type=int, help="only the first N instances of the dataset")
    parser.add_argument("--naive-limit", type=int, default=300,
                        help="instances (spread evenly) for the naive loop, extrapolated to the set; 0 = all")
    parser.add_argument("--cross-model", type=Path, help="trained LMGC folder (default: untrained MiniLM)")
    parser.add_argument("--bi-model", type=Path, help="trained bi-encoder folder (default: untrained MiniLM)")
    parser.add_argument("--bank-model", type=Path, help="gloss-bank model folder (default: the shipped model)")
    parser.add_argument("--modes", nargs="+", choices=list(MODES), default=list(MODES),
                        help="modes to run (naive needs cross)")
    parser.add_argument("--batch-pairs", type=int, default=256, help="pairs per batch (cross), as in `wsd predict`")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's own default)")
    parser.add_argument("--output", type=Path,
                        help="JSON report (a .md table goes next to it); default results/wsd/predict_speed*.json")
    parser.add_argument("--worker", choices=list(MODES), help=argparse.SUPPRESS)
    parser.add_argument("--model-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--prefix", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.limit is not None and args.limit < 1:
        parser.error("--limit must be at least 1")
    if args.naive_limit < 0:
        parser.error("--naive-limit must be >= 0")
    if "naive" in args.modes and "cross" not in args.modes:
        parser.error("the naive mode is checked against the cross mode: run both")
    return args


def default_output(args: argparse.Namespace) -> Path:
    name = "predict_speed" if args.dataset.upper() == "ALL" and args.limit is None else (
        f"predict_speed-{Path(args.dataset).name}" + (f"-limit{args.limit}" if args.limit else ""))
    if set(args.modes) != set(MODES):
        name += "-" + "-".join(args.modes)
    return Path("results/wsd") / f"{name}.json"


# --------------------------------------------------------------------------------------------- worker


def load_instances(prefix: Path, limit: int | None) -> list:
    from cohesive.corpora.raganato import iter_instances

    return list(islice(iter_instances(prefix), limit))


def naive_subset(instances: list, limit: int) -> list:
    """`limit` instances spread evenly over the list (all of them when limit is 0 or large enough)."""
    if limit == 0 or limit >= len(instances):
        return list(instances)
    step = len(instances) / limit
    return [instances[int(i * step)] for i in range(limit)]


def warm_lexicon(instances: list) -> tuple[float, float, int]:
    """Load WordNet, then look up every instance's candidate senses (and so their glosses) once:
    seconds to load, seconds of look-ups, and the pair count."""
    from cohesive.lexicon import lexicon
    from cohesive.wsd.data import candidate_senses

    start = time.perf_counter()
    lex = lexicon()
    loaded = time.perf_counter()
    pairs = sum(len(candidate_senses(lex, i.lemma, i.pos)) for i in instances)
    return loaded - start, time.perf_counter() - loaded, pairs


def warm_up(*encoders) -> None:
    """One untimed forward pass of a short dummy input per encoder (lazy kernel set-up)."""
    import torch

    ids = torch.full((1, 8), 1000, dtype=torch.long)
    with torch.inference_mode():
        for encoder in encoders:
            encoder(input_ids=ids, attention_mask=torch.ones_like(ids))


class Timer:
    """Wall and process CPU seconds of a block."""

    def __enter__(self) -> Self:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc) -> None:
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu


def run_cross(args: argparse.Namespace, instances: list) -> dict:
    from cohesive.wsd.inference import CrossEncoder

    with Timer() as load:
        predictor = CrossEncoder.load(args.model_dir, batch_pairs=args.batch_pairs)
    warm_up(predictor.model.backbone.base_model)
    with Timer() as predict:
        predictions = predictor.predict(instances)
    # Untimed: per-pair scores on the naive loop's instances, to tell real disagreements from ties.
    subset = naive_subset(instances, args.naive_limit)
    pairs = predictor.encoder.build(subset)
    scores = predictor.score(pairs)
    subset_scores = {iid: dict(zip(pairs.keys_of(i), scores[pairs.offsets[i]:pairs.offsets[i + 1]].tolist()))
                     for i, iid in enumerate(pairs.instance_ids)}
    return {"load_s": load.wall, "predict_s": predict.wall, "predict_cpu_s": predict.cpu,
            "answers": {i: p.key for i, p in predictions.items()}, "subset_scores": subset_scores}


def run_bi(args: argparse.Namespace, instances: list) -> dict:
    from cohesive.wsd.inference import BiEncoderPredictor

    with Timer() as load:
        predictor = BiEncoderPredictor.load(args.model_dir, batch_pairs=args.batch_pairs)
    warm_up(predictor.model.context_encoder, predictor.model.gloss_encoder)
    with Timer() as predict:
        predictions = predictor.predict(instances)
    return {"load_s": load.wall, "predict_s": predict.wall, "predict_cpu_s": predict.cpu,
            "answers": {i: p.key for i, p in predictions.items()}, "glosses_encoded": len(predictor._vectors)}


def run_bank(args: argparse.Namespace, instances: list) -> dict:
    from cohesive.wsd.inference import load_predictor

    with Timer() as load:
        predictor = load_predictor(args.model_dir, batch_pairs=args.batch_pairs)
    warm_up(predictor.model.context_encoder, predictor.bank.encoder)
    with Timer() as predict:
        predictions = predictor.predict(instances)
    return {"load_s": load.wall, "predict_s": predict.wall, "predict_cpu_s": predict.cpu,
            "answers": {i: p.key for i, p in predictions.items()}, "glosses_encoded": len(predictor.bank._vectors),
            "prior_weight": predictor.prior_weight}


def run_naive(args: argparse.Namespace, instances: list) -> dict:
    """Tokenise the marked context and the gloss of every (instance, sense) pair separately and score
    it alone; the pair is built exactly as PairEncoder/PairSet build it, so the tokens are identical."""
    import numpy as np
    import torch
    from transformers import AutoTokenizer

    from cohesive.lexicon import lexicon
    from cohesive.wsd.data import (
        PairTemplate,
        candidate_senses,
        context_window,
        gloss_segment,
        marked_context,
    )
    from cohesive.wsd.modeling import LmgcModel

    with Timer() as load:
        tokenizer = AutoTokenizer.from_pretrained(str(args.model_dir), trust_remote_code=False)
        model = LmgcModel.from_pretrained(args.model_dir).eval()
    warm_up(model.backbone.base_model)
    lex = lexicon()
    answers: dict[str, str] = {}
    scores: dict[str, dict[str, float]] = {}
    with Timer() as predict, torch.inference_mode():
        template = PairTemplate.from_tokenizer(tokenizer)
        for instance in instances:
            words = [t.text for t in instance.sentence.tokens]
            text, begin, end = marked_context(words, instance.index, instance.index + 1)
            own: dict[str, float] = {}
            for sense in candidate_senses(lex, instance.lemma, instance.pos):
                context = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
                ids = np.asarray(context["input_ids"], dtype=np.int64)
                starts = np.asarray(context["offset_mapping"], dtype=np.int64).reshape(-1, 2)[:, 0]
                first, stop = int(np.searchsorted(starts, begin)), int(np.searchsorted(starts, end))
                gloss = np.asarray(tokenizer(gloss_segment(sense), add_special_tokens=False, truncation=True,
                                             max_length=model.max_gloss_tokens)["input_ids"], dtype=np.int64)
                lo, hi = context_window(len(ids), first, stop, model.max_length - template.n_special - len(gloss))
                pair, types = template.build(ids[lo:hi], gloss)
                inputs = {"input_ids": torch.from_numpy(pair)[None],
                          "attention_mask": torch.ones((1, len(pair)), dtype=torch.long)}
                if types is not None:
                    inputs["token_type_ids"] = torch.from_numpy(types)[None]
                logits = model(**inputs).logits.float()[0]
                own[sense.key] = float(logits[1] - logits[0])
            if own:
                answers[instance.id] = max(own, key=own.get)  # first maximum, as np.argmax in `choose`
            scores[instance.id] = own
    return {"load_s": load.wall, "predict_s": predict.wall, "predict_cpu_s": predict.cpu, "answers": answers,
            "subset_scores": scores}


def run_worker(args: argparse.Namespace) -> dict:
    import torch
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    instances = load_instances(args.prefix, args.limit)
    if args.worker == "naive":
        instances = naive_subset(instances, args.naive_limit)
    wordnet_load_s, lexicon_s, pairs = warm_lexicon(instances)
    result = {"cross": run_cross, "bi": run_bi, "naive": run_naive, "bank": run_bank}[args.worker](args, instances)
    return {**result, "instance_ids": [i.id for i in instances], "instances": len(instances), "pairs": pairs,
            "wordnet_load_s": wordnet_load_s, "lexicon_s": lexicon_s, "torch_threads": torch.get_num_threads(),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


# --------------------------------------------------------------------------------------------- parent


def build_default_models(directory: Path) -> tuple[Path, Path]:
    """Untrained MiniLM-initialised cross-encoder (new linear pair head) and bi-encoder, saved as trained
    folders are (weights, meta file, tokenizer)."""
    import torch
    from transformers import AutoTokenizer
    from transformers.utils import logging as hf_logging

    from cohesive.models import resolve_model
    from cohesive.wsd.modeling import BiEncoder, LmgcModel

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(resolve_model("minilm"), trust_remote_code=False)
    cross_dir, bi_dir = directory / "cross-minilm", directory / "bi-minilm"
    LmgcModel.from_pretrained("minilm", objective="lmgc", pair_head="linear").save_pretrained(cross_dir)
    tokenizer.save_pretrained(str(cross_dir))
    BiEncoder.from_pretrained("minilm").save_pretrained(bi_dir)
    tokenizer.save_pretrained(str(bi_dir))
    return cross_dir, bi_dir


def check_model(directory: Path, architecture: str, option: str) -> Path:
    from cohesive.wsd.modeling import read_model_meta

    meta = read_model_meta(directory) if directory.is_dir() else None
    if meta is None or meta["architecture"] != architecture:
        sys.exit(f"{option} {directory}: not a trained {architecture} model folder")
    return directory


def measure(args: argparse.Namespace, mode: str, model_dir: Path, prefix: Path, tmp: Path) -> dict:
    result = tmp / f"{mode}.json"
    command = [sys.executable, __file__, "--worker", mode, "--model-dir", str(model_dir), "--prefix", str(prefix),
               "--naive-limit", str(args.naive_limit), "--batch-pairs", str(args.batch_pairs), "--result", str(result)]
    if args.limit is not None:
        command += ["--limit", str(args.limit)]
    if args.threads:
        command += ["--threads", str(args.threads)]
    print(f"[{mode}] {MODES[mode]} ...", file=sys.stderr, flush=True)
    started = time.perf_counter()
    env = {**os.environ, "TQDM_DISABLE": "1"}
    if mode == "bank":  # an empty cache: the gloss bank is built inside the timed predict
        env["COHESIVE_CACHE"] = str(tmp / "cache")
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    if done.returncode != 0:
        sys.exit(f"[{mode}] worker failed (exit {done.returncode}):\n{done.stderr[-4000:]}")
    print(f"[{mode}] done in {time.perf_counter() - started:.1f} s (process)", file=sys.stderr, flush=True)
    return json.loads(result.read_text())


def agreement(cross: dict, naive: dict) -> dict:
    """Cross (full predict) vs naive answers on the naive instances; differing answers are allowed only
    where the naive scores of both keys are within TIE_TOLERANCE (a numerical tie)."""
    same = ties = 0
    mismatches = []
    max_diff = 0.0
    for iid, naive_scores in naive["subset_scores"].items():
        cross_scores = cross["subset_scores"][iid]
        assert set(cross_scores) == set(naive_scores), f"{iid}: candidate senses differ between cross and naive"
        max_diff = max([max_diff] + [abs(cross_scores[k] - naive_scores[k]) for k in naive_scores])
        a, b = cross["answers"].get(iid), naive["answers"].get(iid)
        if a == b:
            same += 1
        elif a is not None and b is not None and abs(naive_scores[a] - naive_scores[b]) <= TIE_TOLERANCE:
            ties += 1
        else:
            mismatches.append((iid, a, b))
    assert not mismatches, f"cross-encoder and naive loop disagree on {len(mismatches)} instance(s): {mismatches[:5]}"
    return {"shared": len(naive["subset_scores"]), "same": same, "ties": ties, "max_score_diff": max_diff}


def f1(gold: dict | None, ids: list[str], answers: dict[str, str]) -> float | None:
    if gold is None:
        return None
    from cohesive.wsd.scorer import score

    subset = {i: gold[i] for i in ids if i in gold}
    return score(subset, {i: [k] for i, k in answers.items() if i in subset}).f1 if subset else None


def summarise(args: argparse.Namespace, raw: dict, gold: dict | None, trained: dict[str, bool]) -> dict:
    whole = next(r for m, r in raw.items() if m != "naive")
    total_instances, total_pairs = whole["instances"], whole["pairs"]
    full_run = args.dataset.upper() == "ALL" and args.limit is None
    modes = {}
    for mode, r in raw.items():
        extrapolated = mode == "naive" and r["instances"] < total_instances
        factor = total_pairs / r["pairs"] if extrapolated else 1.0
        modes[mode] = {
            "description": MODES[mode], "trained_model": trained["cross" if mode == "naive" else mode],
            "instances": r["instances"], "pairs": r["pairs"], "load_s": r["load_s"] + r["wordnet_load_s"],
            "model_load_s": r["load_s"], "wordnet_load_s": r["wordnet_load_s"], "lexicon_s": r["lexicon_s"],
            "predict_s": r["predict_s"], "predict_cpu_s": r["predict_cpu_s"], "instances_per_s": r["instances"] / r["predict_s"],
            "pairs_per_s": r["pairs"] / r["predict_s"], "peak_rss_mb": r["peak_rss_mb"],
            "torch_threads": r["torch_threads"], "extrapolated": extrapolated,
            "set_predict_s": r["predict_s"] * factor, "set_end_to_end_s": (r["predict_s"] + r["lexicon_s"]) * factor,
            "f1": f1(gold, r["instance_ids"], r["answers"]),
        }
    for mode in ("bi", "bank"):
        if mode in raw:
            modes[mode]["glosses_encoded"] = raw[mode]["glosses_encoded"]
    if "bank" in raw:
        modes["bank"]["prior_weight"] = raw["bank"]["prior_weight"]
    agree = None
    if "naive" in raw:
        agree = agreement(raw["cross"], raw["naive"])
        agree["cross_f1_on_shared"] = f1(gold, raw["naive"]["instance_ids"], raw["cross"]["answers"])

    def on_all(mode: str) -> float:
        """End-to-end seconds for ALL: measured on a full ALL run, else projected by instances/s."""
        m = modes[mode]
        return m["set_end_to_end_s"] if full_run else m["set_end_to_end_s"] / total_instances * ALL_INSTANCES

    checks = {}
    if "naive" in modes:
        speedup = modes["naive"]["set_predict_s"] / modes["cross"]["predict_s"]
        checks["cross_over_naive"] = {"value": speedup, "target": TARGET_SPEEDUP, "ok": speedup >= TARGET_SPEEDUP}
    for mode, target in (("cross", TARGET_CROSS_S), ("bi", TARGET_BI_S), ("bank", TARGET_BANK_S)):
        if mode in modes:
            checks[f"{mode}_all_s"] = {"value": on_all(mode), "target": target, "projected": not full_run,
                                       "ok": on_all(mode) <= target}
    if "cross" in modes and "bi" in modes:
        checks["bi_over_cross"] = {"value": modes["cross"]["predict_s"] / modes["bi"]["predict_s"]}
    return {"modes": modes, "agreement": agree, "checks": checks, "full_run": full_run,
            "set": {"instances": total_instances, "pairs": total_pairs}}


def _num(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def report(args: argparse.Namespace, summary: dict, environment: dict) -> str:
    modes, checks, agree, whole = summary["modes"], summary["checks"], summary["agreement"], summary["set"]
    name = Path(args.dataset).name + (f", first {args.limit} instances" if args.limit else "")
    threads = next(iter(modes.values()))["torch_threads"]
    lines = [(f"WSD prediction speed on {name} ({whole['instances']:,} instances, {whole['pairs']:,} candidate "
              f"pairs); {environment['cpus']} CPUs, torch {environment['torch']} with "
              f"{threads} threads, load average {environment['loadavg_start']} at start, "
              f"{environment['loadavg_end']} at end."), ""]
    lines.append("| mode | instances | pairs | load (s) | WordNet (s) | predict (s) | predict CPU (s) | instances/s "
                 "| pairs/s | whole set, end-to-end (s) | peak RSS (MB) | F1 |")
    lines.append("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for m in modes.values():
        star = " *" if m["extrapolated"] else ""
        f1_text = "-" if m["f1"] is None else f"{100 * m['f1']:.1f}" + (" **" if m["extrapolated"] else "")
        lines.append(f"| {m['description']} | {m['instances']:,} | {m['pairs']:,} | {_num(m['load_s'])} "
                     f"| {_num(m['lexicon_s'])} | {_num(m['predict_s'])} | {_num(m['predict_cpu_s'])} "
                     f"| {_num(m['instances_per_s'])} | {_num(m['pairs_per_s'])} | {_num(m['set_end_to_end_s'])}{star} "
                     f"| {m['peak_rss_mb']:,.0f} | {f1_text} |")
    naive = modes.get("naive")
    if naive and naive["extrapolated"]:
        lines += ["", (f"\\* extrapolated: the naive loop ran on {naive['instances']:,} of the {whole['instances']:,} "
                       f"instances (spread evenly), {naive['pairs']:,} pairs; its time is scaled to the "
                       f"{whole['pairs']:,} pairs of the set by its measured seconds per pair.")]
        if naive["f1"] is not None:
            lines.append(f"\\*\\* on those {naive['instances']:,} instances only; the cross-encoder scores "
                         f"{100 * agree['cross_f1_on_shared']:.1f} on the same instances.")
    scope = "projected to ALL (7,253 instances) from this run's instances/s" if not summary["full_run"] else "measured"

    def verdict(check: dict) -> str:
        return "yes" if check["ok"] else "NO"

    lines += ["", "| check | measured | target | met |", "|---|---|---|---|"]
    if "cross_over_naive" in checks:
        lines.append(f"| cross-encoder speed-up over the naive loop (whole-set predict time) "
                     f"| {checks['cross_over_naive']['value']:.1f}x | >= {TARGET_SPEEDUP:.0f}x "
                     f"| {verdict(checks['cross_over_naive'])} |")
    for mode, label in (("cross", "cross-encoder"), ("bi", "bi-encoder"), ("bank", "gloss-bank bi-encoder, cold cache")):
        if f"{mode}_all_s" in checks:
            check = checks[f"{mode}_all_s"]
            lines.append(f"| {label}, ALL, end-to-end ({scope}) | {check['value'] / 60:.1f} min "
                         f"| <= {check['target'] // 60} min | {verdict(check)} |")
    if "bi_over_cross" in checks:
        lines.append(f"| bi-encoder speed-up over the cross-encoder (predict time) "
                     f"| {checks['bi_over_cross']['value']:.1f}x | (for reference) | |")
    if agree:
        ties = f" (+{agree['ties']} numerical ties within {TIE_TOLERANCE:g})" if agree["ties"] else ""
        lines += ["", (f"Cross-encoder and naive loop give the same answer on {agree['same']:,} of "
                       f"{agree['shared']:,} shared instances{ties}; largest per-pair score difference "
                       f"{agree['max_score_diff']:.2e} (batched vs alone).")]
    if "bank" in modes:
        lines.append(f"Gloss-bank model with its tuned prior (weight {modes['bank']['prior_weight']}); "
                     f"{modes['bank']['glosses_encoded']:,} gloss vectors encoded from an empty cache inside predict.")
    untrained = [MODES[m] for m in ("cross", "bi") if m in modes and not modes[m]["trained_model"]]
    if untrained:
        lines.append(f"Untrained MiniLM-initialised models ({'; '.join(untrained)}): speed does not depend on "
                     "training; F1 does (near chance here) and is shown only to show the modes agree.")
    lines.append("load (s): model and WordNet index loading, fixed start-up, not counted. WordNet (s): "
                 "candidate-sense and gloss look-ups, the same work in every mode, counted in the end-to-end time. "
                 "predict CPU (s): process CPU time during predict (about threads x predict (s) on an idle machine).")
    if not summary["full_run"]:
        lines.append("The ALL figures above are rough projections from a partial run (fixed costs such as the "
                     "bi-encoder's gloss encoding do not scale with instances); run on ALL for the real numbers.")
    return "\n".join(lines)


def main() -> None:
    args = parse_args()
    if args.worker:
        result = run_worker(args)
        args.result.write_text(json.dumps(result))
        return
    import torch

    from cohesive.corpora.raganato import gold_path, read_keys
    from cohesive.paths import wsd_prefix
    from cohesive.wsd.inference import SHIPPED_MODEL

    prefix = wsd_prefix(args.dataset)
    output = args.output or default_output(args)
    gold = read_keys(gold_path(prefix)) if gold_path(prefix).is_file() else None
    environment = {"cpus": os.cpu_count(), "torch": torch.__version__, "python": platform.python_version(),
                   "machine": platform.machine(), "loadavg_start": " ".join(f"{x:.1f}" for x in os.getloadavg())}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cross_dir = check_model(args.cross_model, "cross-encoder", "--cross-model") if args.cross_model else None
        bi_dir = check_model(args.bi_model, "bi-encoder", "--bi-model") if args.bi_model else None
        bank_dir = check_model(args.bank_model or SHIPPED_MODEL, "gloss-bank", "--bank-model")
        if (cross_dir is None and "cross" in args.modes) or (bi_dir is None and "bi" in args.modes):
            print("building untrained MiniLM-initialised models ...", file=sys.stderr, flush=True)
            default_cross, default_bi = build_default_models(tmp)
            cross_dir, bi_dir = cross_dir or default_cross, bi_dir or default_bi
        dirs = {"cross": cross_dir, "bi": bi_dir, "naive": cross_dir, "bank": bank_dir}
        raw = {mode: measure(args, mode, dirs[mode], prefix, tmp) for mode in MODES if mode in args.modes}
    environment["loadavg_end"] = " ".join(f"{x:.1f}" for x in os.getloadavg())
    summary = summarise(args, raw, gold, {"cross": args.cross_model is not None, "bi": args.bi_model is not None,
                                          "bank": True})
    table = report(args, summary, environment)
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()
                if k not in ("worker", "model_dir", "prefix", "result", "output")}
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps({"settings": settings, "prefix": str(prefix), "environment": environment,
                                  **summary}, indent=2))
    output.with_suffix(".md").write_text(table + "\n")
    print(table)


if __name__ == "__main__":
    main()
