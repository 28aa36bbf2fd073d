"""Reference rows that tell whether a fine-tune measured anything: the majority class of each dev
set, and for STS-B the encoder's own zero-shot similarity (mean-pooled embeddings, cosine).
A fine-tuned model below its own zero-shot cosine means the harness, not the model, is being measured.
"""

from __future__ import annotations

from collections import Counter

import torch
from transformers import AutoModel, AutoTokenizer

from cohesive.corpora.glue import GlueExample, read_split, task_spec
from cohesive.errors import CohesiveError
from cohesive.models import load_pretrained
from cohesive.nlu.metrics import task_metrics
from cohesive.nlu.pooling import mean_pool


def majority_baseline(task: str) -> dict[str, float]:
    """Every official metric of predicting the dev set's most frequent label for every row
    (classification tasks only: a constant score has no correlation)."""
    spec = task_spec(task)
    if spec.is_regression:
        raise CohesiveError(f"{spec.folder} is a regression task: it has no majority class")
    labels = [e.label for e in read_split(spec.name, "dev")]
    majority = Counter(labels).most_common(1)[0][0]
    return task_metrics(spec.name, [majority] * len(labels), labels)


@torch.inference_mode()
def embed(model, tokenizer, texts: list[str], batch_size: int = 64, max_length: int = 128) -> torch.Tensor:
    """Mean-pooled last hidden states of each text, longest texts first so batches pad little."""
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    vectors = torch.empty(len(texts), model.config.hidden_size)
    for start in range(0, len(order), batch_size):
        rows = order[start:start + batch_size]
        batch = tokenizer([texts[i] for i in rows], padding=True, truncation=True, max_length=max_length,
                          return_tensors="pt")
        states = model(**batch).last_hidden_state
        vectors[rows] = mean_pool(states, batch["attention_mask"]).float()
    return vectors


def cosine_similarities(model_path: str, examples: list[GlueExample]) -> list[float]:
    """Cosine of the two sentences' mean-pooled embeddings, per sentence pair."""
    if any(e.text_b is None for e in examples):
        raise CohesiveError("zero-shot similarity needs sentence pairs")
    model = load_pretrained(AutoModel, model_path).eval()
    tokenizer = load_pretrained(AutoTokenizer, model_path)
    first = embed(model, tokenizer, [e.text_a for e in examples])
    second = embed(model, tokenizer, [e.text_b for e in examples])
    return torch.nn.functional.cosine_similarity(first, second, dim=-1).tolist()


def zero_shot_stsb(model_path: str) -> dict[str, float]:
    """STS-B dev Pearson and Spearman of the untrained encoder's cosine similarities."""
    examples = read_split("stsb", "dev")
    return task_metrics("stsb", cosine_similarities(model_path, examples), [e.label for e in examples])
