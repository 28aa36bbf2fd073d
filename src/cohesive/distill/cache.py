"""Offline teacher cache: run each teacher MLM once, keep its top-k predictions at the masked positions.

Masks are drawn once for the whole corpus from a seeded generator *before* any teacher runs and are
stored with the predictions, so training reads exactly the positions the teachers saw. Per masked
position and teacher the cache holds the top-k ids and probabilities at temperature T, the tail
mass 1 - sum(top-k) at T, and the confidence features at T = 1 (`weighting.confidence_features`).

Two layouts. `per-teacher` keeps every teacher's top-k (K entries per position), so training can
re-weight or drop teachers without re-running them (ablations, `distill compare`). `mixture` forms
the confidence-weighted target q = sum_k w_k softmax(z_k / T) at cache time, from the teachers'
full distributions, and keeps q's own top-k + tail: one entry per position whatever K is, so the
cache's size does not grow with the number of teachers. Its weighting is fixed when it is built.
Both truncate: the mass outside the kept ids is one tail bucket, against which the student's mass
outside them is matched (`losses.sparse_kd_loss`); this under-trains the shape of the target's tail
(a bias that shrinks as k grows and is zero at k = V), never its total mass.

Layout: `manifest.json` plus `shard-NNNNN.safetensors` files (memory-mapped on read, no pickle),
each written atomically. A fingerprint over teachers, tokenizer, corpus, masking and k/T guards
against reusing a cache built for other settings.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.numpy import save_file
from torch import Tensor, nn
from torch import distributed as dist
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from cohesive.atomic import write_json, write_with
from cohesive.distill.mlm import IGNORE, mask_tokens, masked_lm_outputs
from cohesive.distill.weighting import Mixture, confidence_features, mix_probabilities
from cohesive.errors import CohesiveError
from cohesive.files import read_json

log = logging.getLogger(__name__)

FORMAT = "cohesive-teacher-cache"
VERSION = 1
MANIFEST = "manifest.json"
#: The teachers `cohesive teachers build` writes with its defaults (under runs/teachers/).
DEFAULT_TEACHERS = ("minilm-mlm", "bert-wordnet", "bert-semcor", "bert-gcide")
MANIFEST_KEYS = ("fingerprint", "teachers", "top_k", "temperature", "vocab_size", "seq_len", "shards")
SEQUENCE_KEYS = ("input_ids", "attention_mask", "labels")
LAYOUTS = ("per-teacher", "mixture")
TEACHER_KEYS = ("teacher_ids", "teacher_probs", "teacher_tail", "gold_prob", "max_prob", "entropy")
_WEIGHT_SUFFIXES = (".safetensors", ".bin")


class CacheError(CohesiveError):
    """A teacher cache that is missing, damaged, or was built for other settings."""


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _teacher_digest(source: str | Path) -> str:
    """Hash of config.json and the weight files for a local checkpoint; the name itself otherwise."""
    path = Path(source)
    if not path.is_dir():
        return f"name:{source}"
    files = sorted(f for f in path.iterdir() if f.name == "config.json" or f.suffix in _WEIGHT_SUFFIXES)
    return hashlib.sha256("".join(f"{f.name}:{_sha256_file(f)};" for f in files).encode()).hexdigest()


def _tokenizer_digest(tokenizer) -> str:
    described = {"vocab": sorted(tokenizer.get_vocab().items()), "special": sorted(tokenizer.all_special_ids),
                 "mask": tokenizer.mask_token_id, "size": len(tokenizer)}
    return hashlib.sha256(json.dumps(described).encode()).hexdigest()


def cache_fingerprint(teachers: Sequence[str | Path], tokenizer, corpus_fingerprint: str, mask_seed: int,
                      mlm_probability: float, top_k: int, temperature: float, seq_len: int,
                      mixture: Mixture | None = None) -> str:
    """sha256 over everything that changes the cache's content; teacher order matters (it is the K axis).

    Local teacher directories are hashed by content (config + weights), so moving them keeps the
    fingerprint; hub names are hashed by name only.
    """
    described = {"format": FORMAT, "version": VERSION, "teachers": [_teacher_digest(t) for t in teachers],
                 "tokenizer": _tokenizer_digest(tokenizer), "corpus": corpus_fingerprint, "mask_seed": mask_seed,
                 "mlm_probability": mlm_probability, "top_k": top_k, "temperature": temperature, "seq_len": seq_len}
    if mixture is not None:  # per-teacher caches keep the fingerprints they always had
        described["mixture"] = asdict(mixture)
    return hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()


def _rank_world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _barrier() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def _shard_name(index: int) -> str:
    return f"shard-{index:05d}.safetensors"


def _vocab_size(teachers: Sequence[tuple[str, nn.Module]], tokenizer) -> int:
    sizes = {name: model.config.vocab_size for name, model in teachers}
    if len(set(sizes.values())) != 1:
        raise CacheError(f"teachers must share one vocabulary, got sizes {sizes}")
    vocab = next(iter(sizes.values()))
    if len(tokenizer) > vocab:
        raise CacheError(f"tokenizer has {len(tokenizer)} tokens but the teachers' vocabulary has {vocab}")
    return vocab


def _summarise(logits: Tensor, gold: Tensor, top_k: int, temperature: float) -> dict[str, Tensor]:
    """Top-k ids and probabilities at T, tail mass at T, confidence features at T = 1: [m, k] / [m]."""
    logits = logits.float()
    top_logp, top_ids = torch.log_softmax(logits / temperature, dim=-1).topk(top_k, dim=-1)
    probs = top_logp.exp()
    return {"teacher_ids": top_ids, "teacher_probs": probs, "teacher_tail": (1.0 - probs.sum(dim=-1)).clamp_min(0.0),
            **confidence_features(logits, gold)}


def mixture_summary(logits: Tensor, gold: Tensor, top_k: int, temperature: float,
                    mixture: Mixture) -> tuple[dict[str, Tensor], Tensor]:
    """The weighted mixture of K teachers' logits [m, K, V] summarised as ONE target per position
    (arrays [m, 1, k] / [m, 1], the per-teacher layout with K = 1), and the weights w [m, K].

    w comes from each teacher's confidence at T = 1, q = sum_k w_k softmax(z_k / T) over the whole
    vocabulary (exact, unlike mixing truncated top-k lists), then q's top-k and tail are kept; the
    confidence features stored are q's own (at T), for the record: with one target its weight is 1."""
    logits = logits.float()
    weights = mixture.weights(confidence_features(logits, gold.unsqueeze(1).expand(-1, logits.shape[1])))
    q = mix_probabilities(torch.softmax(logits / temperature, dim=-1), weights)
    probs, ids = q.topk(top_k, dim=-1)
    summary = {"teacher_ids": ids, "teacher_probs": probs, "teacher_tail": (1.0 - probs.sum(dim=-1)).clamp_min(0.0),
               "gold_prob": q.gather(-1, gold.unsqueeze(-1)).squeeze(-1), "max_prob": probs[:, 0],
               "entropy": -torch.xlogy(q, q).sum(dim=-1)}
    return {key: value.unsqueeze(1) for key, value in summary.items()}, weights


def _run_mixture(teachers: Sequence[tuple[str, nn.Module]], input_ids: Tensor, attention_mask: Tensor, labels: Tensor,
                 top_k: int, temperature: float, batch_size: int, bar: tqdm,
                 mixture: Mixture) -> tuple[dict[str, Tensor], Tensor]:
    """Every teacher on each batch, mixed at once: (K = 1 arrays over the shard, summed weights [K])."""
    parts, weight_sum = [], torch.zeros(len(teachers))
    with torch.inference_mode():
        for start in range(0, input_ids.shape[0], batch_size):
            rows = slice(start, start + batch_size)
            outputs = []
            for _, model in teachers:
                model.eval()
                device = next(model.parameters()).device
                outputs.append(masked_lm_outputs(model, input_ids[rows].to(device), attention_mask[rows].to(device),
                                                 labels[rows].to(device)))
            logits = torch.stack([out.logits.float().cpu() for out in outputs], dim=1)
            summary, weights = mixture_summary(logits, outputs[0].gold.cpu(), top_k, temperature, mixture)
            parts.append(summary)
            weight_sum += weights.sum(dim=0)
            bar.update(input_ids[rows].shape[0] * len(teachers))
    return {key: torch.cat([part[key] for part in parts]) for key in parts[0]}, weight_sum


def _run_teacher(model: nn.Module, input_ids: Tensor, attention_mask: Tensor, labels: Tensor, top_k: int,
                 temperature: float, batch_size: int, bar: tqdm) -> dict[str, Tensor]:
    """One pass of one teacher over a shard; rows in row-major order of `labels != -100`."""
    model.eval()
    device = next(model.parameters()).device
    parts = []
    with torch.inference_mode():
        for start in range(0, input_ids.shape[0], batch_size):
            rows = slice(start, start + batch_size)
            out = masked_lm_outputs(model, input_ids[rows].to(device), attention_mask[rows].to(device),
                                    labels[rows].to(device))
            parts.append({key: value.cpu() for key, value in _summarise(out.logits, out.gold, top_k, temperature).items()})
            bar.update(input_ids[rows].shape[0])
    return {key: torch.cat([part[key] for part in parts]) for key in parts[0]}


def _shard_arrays(input_ids: Tensor, attention_mask: Tensor, labels: Tensor, teachers: Sequence[tuple[str, nn.Module]],
                  top_k: int, temperature: float, batch_size: int, id_dtype: type, bar: tqdm,
                  mixture: Mixture | None) -> tuple[dict[str, np.ndarray], list[float] | None]:
    """All arrays of one shard, teacher arrays on axis 1 (the K axis, of size 1 for a mixture), and
    for a mixture the sum of each teacher's weights over the shard's positions."""
    counts = (labels != IGNORE).sum(dim=1)
    arrays = {"input_ids": input_ids.numpy().astype(id_dtype), "attention_mask": attention_mask.numpy().astype(np.uint8),
              "labels": labels.numpy().astype(np.int32),
              "offsets": np.concatenate([[0], counts.cumsum(0).numpy()]).astype(np.int64)}
    weight_sum = None
    if mixture is None:
        outputs = [_run_teacher(model, input_ids, attention_mask, labels, top_k, temperature, batch_size, bar)
                   for _, model in teachers]
        targets = {key: torch.stack([out[key] for out in outputs], dim=1) for key in TEACHER_KEYS}
    else:
        targets, weights = _run_mixture(teachers, input_ids, attention_mask, labels, top_k, temperature, batch_size,
                                        bar, mixture)
        weight_sum = weights.tolist()
    for key in TEACHER_KEYS:
        arrays[key] = targets[key].numpy().astype(id_dtype if key == "teacher_ids" else np.float16)
    return arrays, weight_sum


def _shard_metadata(fingerprint: str, index: int, start: int, arrays: Mapping[str, np.ndarray],
                    weight_sum: list[float] | None) -> dict[str, str]:
    metadata = {"format": FORMAT, "fingerprint": fingerprint, "shard": str(index), "start": str(start),
                "sequences": str(arrays["input_ids"].shape[0]), "masked": str(arrays["teacher_tail"].shape[0]),
                "teacher_bytes": str(sum(arrays[key].nbytes for key in TEACHER_KEYS))}
    if weight_sum is not None:
        metadata["weight_sum"] = json.dumps(weight_sum)
    return metadata


def _read_metadata(path: Path) -> dict[str, str] | None:
    """The shard's metadata, or None when the file is absent or damaged (safetensors checks it is complete)."""
    try:
        with safe_open(str(path), framework="np") as handle:
            return handle.metadata()
    except (OSError, SafetensorError):
        return None


def _atomic_save(arrays: Mapping[str, np.ndarray], path: Path, metadata: dict[str, str]) -> None:
    write_with(path, lambda temporary: save_file(dict(arrays), str(temporary), metadata=metadata))


def _write_manifest(directory: Path, manifest: dict) -> None:
    write_json(directory / MANIFEST, manifest)


def build_cache(blocks: Tensor, tokenizer, teachers: Sequence[tuple[str, nn.Module]], output_dir: str | Path, *,
                corpus_fingerprint: str, top_k: int = 32, temperature: float = 2.0, mlm_probability: float = 0.15,
                mask_seed: int = 0, shard_size: int = 1024, batch_size: int = 32, mixture: Mixture | None = None) -> dict:
    """Mask `blocks` [n_seq, L] once, run every teacher once, write the shards and the manifest; return the manifest.

    Teacher names should be what was passed to `from_pretrained` (a local directory is hashed by
    content into the fingerprint). Under torch.distributed rank r builds shards r, r + W, ... and
    rank 0 writes the manifest once all shards exist. Finished shards with the same fingerprint
    (an interrupted build) are kept, not recomputed. With `mixture`, the `mixture` layout (one
    weighted target per position) is written instead of the per-teacher one.
    """
    if blocks.ndim != 2 or blocks.dtype != torch.long:
        raise CacheError(f"blocks must be a LongTensor [n_seq, seq_len], got {blocks.dtype} {tuple(blocks.shape)}")
    if not teachers:
        raise CacheError("no teachers given")
    if blocks.shape[0] == 0:
        raise CacheError("no training blocks: the text is shorter than one block (raise per_domain or lower seq_len)")
    if temperature <= 0:
        raise CacheError(f"temperature must be positive, got {temperature}")
    vocab = _vocab_size(teachers, tokenizer)
    if not 0 < top_k <= vocab:
        raise CacheError(f"top_k must be in 1..{vocab}, got {top_k}")
    names = [name for name, _ in teachers]
    fingerprint = cache_fingerprint(names, tokenizer, corpus_fingerprint, mask_seed, mlm_probability, top_k,
                                    temperature, blocks.shape[1], mixture)
    directory = Path(output_dir)
    directory.mkdir(parents=True, exist_ok=True)
    rank, world = _rank_world()
    if rank == 0:
        (directory / MANIFEST).unlink(missing_ok=True)  # an interrupted build must not look finished

    input_ids, labels = mask_tokens(blocks, tokenizer, mlm_probability, torch.Generator().manual_seed(mask_seed))
    # blocks are unpadded, so this is all ones; it only guards a stray [PAD] block
    attention_mask = (blocks != tokenizer.pad_token_id).long() if tokenizer.pad_token_id is not None \
        else torch.ones_like(blocks)
    id_dtype = np.uint16 if vocab <= 1 << 16 else np.int32
    n_shards = math.ceil(blocks.shape[0] / shard_size)
    mine = range(rank, n_shards, world)
    todo = sum(min(shard_size, blocks.shape[0] - s * shard_size) for s in mine) * len(teachers)
    with tqdm(total=todo, unit="seq", desc="teacher cache", disable=None if rank == 0 else True) as bar:
        for index in mine:
            start = index * shard_size
            rows = slice(start, start + shard_size)
            path = directory / _shard_name(index)
            done = _read_metadata(path)
            if done and done.get("fingerprint") == fingerprint and done.get("start") == str(start) \
                    and done.get("sequences") == str(input_ids[rows].shape[0]):
                log.info("keeping finished %s", path.name)
                bar.update(input_ids[rows].shape[0] * len(teachers))
                continue
            arrays, weight_sum = _shard_arrays(input_ids[rows], attention_mask[rows], labels[rows], teachers, top_k,
                                               temperature, batch_size, id_dtype, bar, mixture)
            _atomic_save(arrays, path, _shard_metadata(fingerprint, index, start, arrays, weight_sum))
    _barrier()
    if rank == 0:
        shards = [_shard_record(directory, i) for i in range(n_shards)]
        _write_manifest(directory, {
            "format": FORMAT, "version": VERSION, "fingerprint": fingerprint, "teachers": names, "top_k": top_k,
            "temperature": temperature, "vocab_size": vocab, "seq_len": blocks.shape[1],
            "mlm_probability": mlm_probability, "mask_seed": mask_seed, "corpus_fingerprint": corpus_fingerprint,
            "id_dtype": np.dtype(id_dtype).name, "layout": "mixture" if mixture else "per-teacher",
            **({"mixture": _mixture_record(mixture, shards)} if mixture else {}), "shards": shards})
    _barrier()
    return _read_manifest(directory)


def _shard_record(directory: Path, index: int) -> dict:
    path = directory / _shard_name(index)
    metadata = _read_metadata(path)
    if metadata is None:
        raise CacheError(f"shard {path} was not written (did every rank finish?)")
    record = {"file": path.name, "sequences": int(metadata["sequences"]), "masked": int(metadata["masked"]),
              "bytes": path.stat().st_size, "teacher_bytes": int(metadata["teacher_bytes"])}
    if "weight_sum" in metadata:
        record["weight_sum"] = json.loads(metadata["weight_sum"])
    return record


def _mixture_record(mixture: Mixture, shards: list[dict]) -> dict:
    """The weighting the mixture was formed with and each teacher's mean weight over all positions."""
    masked = sum(shard["masked"] for shard in shards)
    totals = np.sum([shard["weight_sum"] for shard in shards], axis=0)
    return {**asdict(mixture), "mean_weights": [round(float(t) / max(masked, 1), 4) for t in totals]}


def _read_manifest(directory: Path) -> dict:
    path = directory / MANIFEST
    if not path.is_file():
        raise CacheError(f"no finished teacher cache in {directory} ({MANIFEST} missing); run `cohesive distill cache`")
    manifest = read_json(path)
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
        raise CacheError(f"{path} is not a {FORMAT} version {VERSION} manifest; rebuild the cache")
    missing = [key for key in MANIFEST_KEYS if key not in manifest]
    if missing:
        raise CacheError(f"{path}: damaged manifest (missing {', '.join(missing)}); rebuild the cache")
    return manifest


class TeacherCache(Dataset):
    """The cache as a Dataset: one item per sequence with its teachers' arrays at its masked positions.

    Item keys: input_ids, attention_mask, labels (LongTensor [L]); teacher_ids [m, K, k] long,
    teacher_probs [m, K, k], teacher_tail / gold_prob / max_prob / entropy [m, K] float32, rows in
    the row-major order of labels != -100, i.e. the order of `masked_lm_outputs`.
    """

    def __init__(self, directory: str | Path, expected_fingerprint: str | None = None):
        self.directory = Path(directory)
        self.manifest = _read_manifest(self.directory)
        if expected_fingerprint is not None and self.manifest["fingerprint"] != expected_fingerprint:
            raise CacheError(f"teacher cache {self.directory} was built for other teachers, data or settings "
                             f"(fingerprint {self.manifest['fingerprint'][:12]}, expected {expected_fingerprint[:12]});"
                             " rebuild it with `cohesive distill cache`")
        for shard in self.manifest["shards"]:
            path = self.directory / shard["file"]
            size = path.stat().st_size if path.is_file() else None
            if size != shard["bytes"]:
                state = "missing" if size is None else f"truncated or changed ({size} of {shard['bytes']} bytes)"
                raise CacheError(f"teacher cache shard {path} is {state}; rebuild it with `cohesive distill cache`")
        self._starts = np.cumsum([0] + [shard["sequences"] for shard in self.manifest["shards"]])
        self._open: dict[int, tuple[object, np.ndarray]] = {}

    def __getstate__(self) -> dict:
        """Open shard handles cannot be pickled (DataLoader workers with spawn); workers reopen them."""
        return {**self.__dict__, "_open": {}}

    def __len__(self) -> int:
        return int(self._starts[-1])

    def _shard(self, index: int) -> tuple[object, np.ndarray]:
        if index not in self._open:
            path = self.directory / self.manifest["shards"][index]["file"]
            try:
                handle = safe_open(str(path), framework="np")
            except (OSError, SafetensorError) as exc:
                raise CacheError(f"teacher cache shard {path} is unreadable ({exc}); rebuild the cache") from exc
            if handle.metadata().get("fingerprint") != self.manifest["fingerprint"]:
                raise CacheError(f"teacher cache shard {path} belongs to another build; rebuild the cache")
            self._open[index] = (handle, handle.get_tensor("offsets"))
        return self._open[index]

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        if not -len(self) <= i < len(self):
            raise IndexError(f"sequence {i} out of range for a cache of {len(self)}")
        i %= len(self)
        index = int(np.searchsorted(self._starts, i, side="right")) - 1
        row = i - int(self._starts[index])
        handle, offsets = self._shard(index)
        first, last = int(offsets[row]), int(offsets[row + 1])
        item = {key: torch.from_numpy(handle.get_slice(key)[row:row + 1][0].astype(np.int64)) for key in SEQUENCE_KEYS}
        for key in TEACHER_KEYS:
            values = handle.get_slice(key)[first:last]
            item[key] = torch.from_numpy(values.astype(np.int64 if key == "teacher_ids" else np.float32))
        return item

    @property
    def fingerprint(self) -> str:
        return self.manifest["fingerprint"]

    @property
    def teacher_names(self) -> list[str]:
        return list(self.manifest["teachers"])

    @property
    def layout(self) -> str:
        return self.manifest.get("layout", "per-teacher")

    @property
    def targets_per_position(self) -> int:
        """The size of the K axis of the teacher arrays: the number of teachers, or 1 for a mixture."""
        return 1 if self.layout == "mixture" else len(self.teacher_names)

    @property
    def seq_len(self) -> int:
        return int(self.manifest["seq_len"])

    @property
    def top_k(self) -> int:
        return int(self.manifest["top_k"])

    @property
    def vocab_size(self) -> int:
        return int(self.manifest["vocab_size"])

    @property
    def temperature(self) -> float:
        return float(self.manifest["temperature"])

    @property
    def masked_tokens(self) -> int:
        return sum(shard["masked"] for shard in self.manifest["shards"])

    @property
    def bytes_per_masked_token(self) -> float:
        """All cache bytes (shards and manifest) per masked token, sequence arrays included."""
        total = sum(shard["bytes"] for shard in self.manifest["shards"]) + (self.directory / MANIFEST).stat().st_size
        return total / max(self.masked_tokens, 1)

    @property
    def bytes_per_masked_token_per_teacher(self) -> float:
        """Bytes of one K-axis entry's arrays (ids, probs, tail, features) per masked token."""
        teacher = sum(shard["teacher_bytes"] for shard in self.manifest["shards"])
        return teacher / max(self.masked_tokens * self.targets_per_position, 1)


def collate_cached(items: Sequence[Mapping[str, Tensor]]) -> dict[str, Tensor]:
    """Stack the sequence tensors and concatenate the teacher rows, which then line up with
    `masked_lm_outputs` on the stacked batch (both follow the row-major order of labels != -100)."""
    batch = {key: torch.stack([item[key] for item in items]) for key in SEQUENCE_KEYS}
    batch.update({key: torch.cat([item[key] for item in items]) for key in TEACHER_KEYS})
    return batch


@dataclass
class DistillCacheConfig:
    """`cohesive distill cache`: which teachers, over which text, with which masks and k/T."""

    teachers: list[str] = field(default_factory=lambda: [f"runs/teachers/{name}" for name in DEFAULT_TEACHERS])
    domains: list[str] = field(default_factory=lambda: ["wordnet", "semcor", "gcide", "glue"])
    per_domain: int = 1500
    seq_len: int = 128
    top_k: int = 32
    temperature: float = 2.0
    mlm_probability: float = 0.15
    mask_seed: int = 0
    cache_dir: Path = Path("runs/distill/cache")
    shard_size: int = 512
    batch_size: int = 32
    layout: str = "per-teacher"  # or "mixture": the weighted target formed now, one entry per position
    mixture_confidence: str = "gold"  # the mixture layout's weighting (fixed at cache time)
    mixture_weighting: str = "softmax"
    mixture_tau: float = 1.0

    def mixture(self) -> Mixture | None:
        if self.layout not in LAYOUTS:
            raise CacheError(f"unknown cache layout {self.layout!r}; choose one of {', '.join(LAYOUTS)}")
        return Mixture(self.mixture_confidence, self.mixture_weighting, self.mixture_tau) \
            if self.layout == "mixture" else None


def build_cache_stage(config: DistillCacheConfig) -> dict:
    """Load the teachers, pack the mixed-domain training text, build the cache (with its tokenizer)."""
    from cohesive.corpora.text import corpus_fingerprint, mixed_texts, tokenize_blocks
    from cohesive.distill.teachers import load_teachers

    if not config.teachers:
        raise CacheError("no teachers configured: set `teachers` (run `cohesive teachers build` first)")
    mixture = config.mixture()
    teachers, tokenizer = load_teachers(config.teachers)
    texts = mixed_texts(config.domains, "train", config.per_domain)
    blocks = tokenize_blocks(texts, tokenizer, config.seq_len)
    manifest = build_cache(blocks, tokenizer, teachers, config.cache_dir, corpus_fingerprint=corpus_fingerprint(texts),
                           top_k=config.top_k, temperature=config.temperature, mlm_probability=config.mlm_probability,
                           mask_seed=config.mask_seed, shard_size=config.shard_size, batch_size=config.batch_size,
                           mixture=mixture)
    if _rank_world()[0] == 0:
        tokenizer.save_pretrained(config.cache_dir / "tokenizer")
    cache = TeacherCache(config.cache_dir, manifest["fingerprint"])
    return {"cache_dir": str(config.cache_dir), "layout": cache.layout, "sequences": len(cache),
            "masked_tokens": cache.masked_tokens,
            "bytes_per_masked_token": round(cache.bytes_per_masked_token, 1),
            "bytes_per_masked_token_per_teacher": round(cache.bytes_per_masked_token_per_teacher, 1)}
