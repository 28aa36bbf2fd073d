"""Offline teacher cache on three tiny real BERT teachers: round trip, fixed masks, refusal of bad caches."""

from __future__ import annotations

import os
import pickle
import shutil
import threading

import pytest
import torch
from transformers import AutoModelForMaskedLM

from cohesive.distill import cache as cache_module
from cohesive.distill.cache import (
    CacheError,
    TeacherCache,
    build_cache,
    cache_fingerprint,
    collate_cached,
    mixture_summary,
)
from cohesive.distill.losses import dense_kd_loss, sparse_kd_loss
from cohesive.distill.mlm import IGNORE, mask_tokens, masked_lm_outputs
from cohesive.distill.weighting import Mixture, confidence_features
from cohesive.errors import CohesiveError

OPTIONS = dict(corpus_fingerprint="corpus-v1", top_k=32, temperature=2.0, mlm_probability=0.3, mask_seed=7,
               shard_size=4, batch_size=3)


@pytest.fixture(scope="module")
def teachers(tiny_teachers):
    return [(str(path), AutoModelForMaskedLM.from_pretrained(path).eval()) for path in tiny_teachers]


@pytest.fixture(scope="module")
def blocks(tokenizer):
    """10 fixed-length blocks of ordinary word pieces between [CLS] and [SEP] (3 shards of 4, 4, 2)."""
    ids = torch.randint(1000, tokenizer.vocab_size, (10, 24), generator=torch.Generator().manual_seed(0))
    ids[:, 0], ids[:, -1] = tokenizer.cls_token_id, tokenizer.sep_token_id
    return ids


@pytest.fixture(scope="module")
def built(tmp_path_factory, blocks, tokenizer, teachers):
    directory = tmp_path_factory.mktemp("cache")
    return directory, build_cache(blocks, tokenizer, teachers, directory, **OPTIONS)


def _everything(directory, order=None) -> dict[str, torch.Tensor]:
    cache = TeacherCache(directory)
    return collate_cached([cache[i] for i in (order if order is not None else range(len(cache)))])


def test_cached_top_k_are_the_teachers_own_at_the_masked_positions(built, blocks, tokenizer, teachers):
    directory, manifest = built
    cache = TeacherCache(directory, expected_fingerprint=manifest["fingerprint"])
    assert len(cache) == 10 and [s["sequences"] for s in manifest["shards"]] == [4, 4, 2]
    assert cache.teacher_names == [name for name, _ in teachers] and cache.seq_len == 24
    assert (cache.top_k, cache.temperature) == (32, 2.0)
    order = [7, 2, 9, 0, 5]  # across shards and out of order: rows must still line up with the batch
    batch = collate_cached([cache[i] for i in order])
    masked, labels = mask_tokens(blocks, tokenizer, 0.3, torch.Generator().manual_seed(7))
    assert torch.equal(batch["input_ids"], masked[order]) and torch.equal(batch["labels"], labels[order])
    assert torch.equal(batch["attention_mask"], torch.ones(5, 24, dtype=torch.long))
    for k, (_, model) in enumerate(teachers):
        with torch.no_grad():
            out = masked_lm_outputs(model, batch["input_ids"], batch["attention_mask"], batch["labels"])
        probs = torch.softmax(out.logits / 2.0, dim=-1)
        top_probs, top_ids = probs.topk(32, dim=-1)
        assert batch["teacher_ids"].shape == (out.gold.numel(), 3, 32)
        assert torch.equal(batch["teacher_ids"][:, k], top_ids)
        assert torch.allclose(batch["teacher_probs"][:, k], top_probs, rtol=1e-3, atol=1e-6)
        assert torch.allclose(batch["teacher_tail"][:, k], 1 - top_probs.sum(-1), rtol=1e-3)
        for name, value in confidence_features(out.logits, out.gold).items():
            assert torch.allclose(batch[name][:, k], value, rtol=1e-3), name


def test_masks_are_fixed_by_the_seed_not_by_sharding(built, blocks, tokenizer, teachers, tmp_path):
    directory, manifest = built
    first = _everything(directory)
    again = build_cache(blocks, tokenizer, teachers, tmp_path / "again", **{**OPTIONS, "shard_size": 3})
    assert again["fingerprint"] == manifest["fingerprint"]
    second = _everything(tmp_path / "again")
    for key, value in first.items():
        assert torch.equal(value, second[key]), key
    other = build_cache(blocks, tokenizer, teachers, tmp_path / "other", **{**OPTIONS, "mask_seed": 8})
    assert other["fingerprint"] != manifest["fingerprint"]
    assert not torch.equal(_everything(tmp_path / "other")["labels"], first["labels"])


def test_fingerprint_covers_teachers_and_settings(tiny_teachers, tokenizer, tmp_path):
    names = [str(path) for path in tiny_teachers]
    base = dict(tokenizer=tokenizer, corpus_fingerprint="c", mask_seed=0, mlm_probability=0.15, top_k=32,
                temperature=2.0, seq_len=128)
    reference = cache_fingerprint(names, **base)
    moved = shutil.copytree(tiny_teachers[0], tmp_path / "moved")
    assert cache_fingerprint([str(moved)] + names[1:], **base) == reference  # content, not location
    assert cache_fingerprint(names[::-1], **base) != reference
    assert cache_fingerprint(names, **{**base, "top_k": 16}) != reference
    assert cache_fingerprint(names, **{**base, "temperature": 1.0}) != reference
    assert cache_fingerprint(names, **{**base, "corpus_fingerprint": "d"}) != reference


def test_a_cache_for_other_settings_is_refused(built):
    directory, _ = built
    with pytest.raises(CacheError, match="fingerprint") as error:
        TeacherCache(directory, expected_fingerprint="0" * 64)
    assert isinstance(error.value, CohesiveError) and "\n" not in str(error.value)


def test_truncated_missing_or_unfinished_caches_are_refused(built, tmp_path):
    directory, _ = built
    damaged = shutil.copytree(directory, tmp_path / "damaged")
    shard = damaged / "shard-00001.safetensors"
    os.truncate(shard, shard.stat().st_size // 2)
    with pytest.raises(CacheError, match="truncated"):
        TeacherCache(damaged)
    shard.unlink()
    with pytest.raises(CacheError, match="missing"):
        TeacherCache(damaged)
    (damaged / "manifest.json").unlink()
    with pytest.raises(CacheError, match="manifest.json missing"):
        TeacherCache(damaged)


def test_an_interrupted_build_keeps_finished_shards(built, blocks, tokenizer, teachers, tmp_path):
    directory, manifest = built
    resumed = shutil.copytree(directory, tmp_path / "resumed")
    (resumed / "manifest.json").unlink()
    (resumed / "shard-00002.safetensors").unlink()
    kept = (resumed / "shard-00000.safetensors").stat().st_mtime_ns
    assert build_cache(blocks, tokenizer, teachers, resumed, **OPTIONS) == manifest
    assert (resumed / "shard-00000.safetensors").stat().st_mtime_ns == kept
    assert torch.equal(_everything(resumed)["teacher_probs"], _everything(directory)["teacher_probs"])


def test_ranks_build_interleaved_shards_and_rank0_writes_the_manifest(built, blocks, tokenizer, teachers, tmp_path,
                                                                      monkeypatch):
    directory, manifest = built
    local, barrier, errors = threading.local(), threading.Barrier(2), []
    monkeypatch.setattr(cache_module, "_rank_world", lambda: (local.rank, 2))
    monkeypatch.setattr(cache_module, "_barrier", barrier.wait)

    def rank(r: int) -> None:
        local.rank = r
        try:
            build_cache(blocks, tokenizer, teachers, tmp_path / "ddp", **OPTIONS)
        except Exception as exc:  # surfaced in the main thread below
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=rank, args=(r,)) for r in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert TeacherCache(tmp_path / "ddp").manifest == manifest
    assert torch.equal(_everything(tmp_path / "ddp")["teacher_ids"], _everything(directory)["teacher_ids"])


def test_bytes_per_masked_token(built):
    directory, _ = built
    cache = TeacherCache(directory)
    # per teacher and masked token: 32 uint16 ids + 32 float16 probs + float16 tail + 3 float16 features
    assert cache.bytes_per_masked_token_per_teacher == 32 * 2 + 32 * 2 + 2 + 3 * 2
    assert cache.bytes_per_masked_token > 3 * 136
    assert cache.masked_tokens == int((_everything(directory)["labels"] != IGNORE).sum())


def test_cache_survives_pickling_for_dataloader_workers(built):
    directory, _ = built
    cache = TeacherCache(directory)
    first = cache[3]  # opens a shard handle, which cannot be pickled
    copy = pickle.loads(pickle.dumps(cache))
    assert all(torch.equal(first[key], value) for key, value in copy[3].items())


@pytest.mark.parametrize("rows,temperature,message", [(0, 2.0, "no training blocks"), (2, 0.0, "temperature must be positive")])
def test_empty_corpus_and_bad_temperature_are_refused(blocks, tokenizer, teachers, tmp_path, rows, temperature, message):
    with pytest.raises(CacheError, match=message):
        build_cache(blocks[:rows], tokenizer, teachers, tmp_path, corpus_fingerprint="x", temperature=temperature)


# --- the mixture layout: one weighted target per position, whatever the number of teachers ----------


def _mixture_cache(directory, blocks, tokenizer, teachers, **options):
    return TeacherCache(build_cache(blocks, tokenizer, teachers, directory, **{**OPTIONS, "mixture": Mixture(), **options})
                        and directory)


def test_mixture_kl_equals_the_per_teacher_kl_at_full_vocabulary(blocks, tokenizer, teachers, tmp_path):
    """With k = V nothing is truncated: KL(q || student) is the same whether q is mixed at cache time
    or at training time from the per-teacher cache (up to the caches' float16 rounding)."""
    vocab, short = teachers[0][1].config.vocab_size, blocks[:2, :12].clone()
    short[:, -1] = tokenizer.sep_token_id
    options = {"top_k": vocab, "shard_size": 2}
    per_teacher = build_cache(short, tokenizer, teachers, tmp_path / "per", **{**OPTIONS, **options})
    assert per_teacher["layout"] == "per-teacher"
    each, mixed = _everything(tmp_path / "per"), collate_cached(list(_mixture_cache(tmp_path / "mix", short, tokenizer,
                                                                                     teachers, **options)))
    assert mixed["teacher_ids"].shape[1] == 1 and each["teacher_ids"].shape[1] == len(teachers)
    student = torch.randn(each["teacher_ids"].shape[0], vocab, generator=torch.Generator().manual_seed(3))
    per_kl = sparse_kd_loss(student, each["teacher_ids"], each["teacher_probs"], each["teacher_tail"],
                            Mixture().weights(each), 2.0)
    mixed_kl = sparse_kd_loss(student, mixed["teacher_ids"], mixed["teacher_probs"], mixed["teacher_tail"],
                              torch.ones(student.shape[0], 1), 2.0)
    assert mixed_kl.item() == pytest.approx(per_kl.item(), rel=2e-3)


def test_mixture_summary_at_k32_is_close_to_the_exact_kl_on_peaked_teachers():
    """Peaked teachers (each puts most of its mass on 4 of 2,000 ids): the top-32 + tail target's KL
    is within 0.1% of the exact mixture's KL, and never above it (one bucket asks less than the shape)."""
    generator = torch.Generator().manual_seed(0)
    peaks = torch.randint(0, 2000, (64, 3, 4), generator=generator)
    logits = torch.randn(64, 3, 2000, generator=generator).scatter_add_(
        -1, peaks, torch.rand(64, 3, 4, generator=generator) * 8 + 16)
    student = torch.randn(64, 2000, generator=generator).scatter_add_(
        -1, peaks[:, 0], torch.rand(64, 4, generator=generator) * 8 + 16)
    summary, weights = mixture_summary(logits, peaks[:, 0, 0], 32, 2.0, Mixture())
    exact = dense_kd_loss(student, torch.softmax(logits / 2.0, dim=-1), weights, 2.0)
    truncated = sparse_kd_loss(student, summary["teacher_ids"], summary["teacher_probs"], summary["teacher_tail"],
                               torch.ones(64, 1), 2.0)
    assert summary["teacher_tail"].mean() < 0.05 and weights.sum(dim=-1).allclose(torch.ones(64))
    assert truncated.item() == pytest.approx(exact.item(), rel=1e-3) and truncated.item() <= exact.item()


def test_mixture_bytes_per_token_do_not_grow_with_the_number_of_teachers(blocks, tokenizer, teachers, tmp_path):
    one = _mixture_cache(tmp_path / "one", blocks, tokenizer, teachers[:1])
    three = _mixture_cache(tmp_path / "three", blocks, tokenizer, teachers)
    arrays = [sum(s["teacher_bytes"] for s in c.manifest["shards"]) / c.masked_tokens for c in (one, three)]
    files = [sum(s["bytes"] for s in c.manifest["shards"]) / c.masked_tokens for c in (one, three)]
    assert arrays == [32 * 2 + 32 * 2 + 2 + 3 * 2] * 2  # ids, probs, tail, features: the same at K = 1 and 3
    assert files[1] == pytest.approx(files[0], rel=0.02)  # only the shard headers (K mean weights) differ
    assert three.targets_per_position == 1 and three.teacher_names == [name for name, _ in teachers]
    assert one.manifest["mixture"]["mean_weights"] == [1.0]
    assert sum(three.manifest["mixture"]["mean_weights"]) == pytest.approx(1.0, abs=1e-3)


def test_the_mixture_weighting_enters_the_fingerprint(blocks, tokenizer, teachers):
    names = [name for name, _ in teachers]
    prints = {cache_fingerprint(names, tokenizer, "c", 0, 0.15, 32, 2.0, 24, mixture) for mixture in
              (None, Mixture(), Mixture(confidence="neg_entropy"), Mixture(tau=0.5))}
    assert len(prints) == 4
