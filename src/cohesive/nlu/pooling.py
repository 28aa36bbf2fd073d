"""A sequence classifier that pools the way sentence encoders are trained: the mean of the token
states under the attention mask, then a linear head.

all-MiniLM-L6-v2 was trained as a mean-pooling sentence encoder; its BERT pooler (the `[CLS]`
dense + tanh that `AutoModelForSequenceClassification` puts under its head) was never trained, so
a CLS classifier starts from an untrained bottleneck. :class:`BiEncoderClassifier` goes one step
further for sentence pairs: each sentence is encoded alone, as in the checkpoint's own training.
Both are saved as the encoder's own `save_pretrained` folder plus `head.safetensors` and `head.json`.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from transformers import AutoModel
from transformers.modeling_outputs import SequenceClassifierOutput

from cohesive.atomic import save_safetensors, write_json
from cohesive.errors import CohesiveError
from cohesive.files import load_tensors, read_json
from cohesive.models import load_pretrained

HEAD_WEIGHTS = "head.safetensors"
HEAD_CONFIG = "head.json"


def mean_pool(states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of `states` (batch x tokens x hidden) over the tokens where `mask` is 1: padding never counts."""
    weights = mask.unsqueeze(-1).to(states.dtype)
    return (states * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)


class MeanPoolClassifier(nn.Module):
    """Encoder -> masked mean of its last hidden states -> dropout -> linear. One output with an MSE
    loss when `regression` (STS-B), else one logit per label with cross-entropy."""

    def __init__(self, encoder: nn.Module, num_labels: int, regression: bool):
        super().__init__()
        if regression and num_labels != 1:
            raise CohesiveError(f"a regression head has one output, got num_labels={num_labels}")
        self.encoder, self.num_labels, self.regression = encoder, num_labels, regression
        self.dropout = nn.Dropout(getattr(encoder.config, "hidden_dropout_prob", 0.1))
        self.head = nn.Linear(encoder.config.hidden_size, num_labels)

    @classmethod
    def from_backbone(cls, path: str, num_labels: int, regression: bool) -> MeanPoolClassifier:
        """A new head (drawn from torch's current seed) on the checkpoint's encoder."""
        return cls(load_pretrained(AutoModel, path), num_labels, regression)

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, labels=None, **_):
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        states = self.encoder(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state
        logits = self.head(self.dropout(mean_pool(states, attention_mask)))
        return SequenceClassifierOutput(loss=None if labels is None else self.loss(logits, labels), logits=logits)

    def loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if self.regression:
            return nn.functional.mse_loss(logits.squeeze(-1), labels.to(logits.dtype))
        return nn.functional.cross_entropy(logits, labels.long())

    def head_config(self) -> dict:
        return {"pair_encoding": "cross", "num_labels": self.num_labels, "regression": self.regression}

    def save_pretrained(self, folder: str | Path) -> None:
        """The encoder as a normal checkpoint folder, the head beside it (safetensors + JSON)."""
        folder = Path(folder)
        self.encoder.save_pretrained(folder)
        save_safetensors(folder / HEAD_WEIGHTS, self.head.state_dict())
        write_json(folder / HEAD_CONFIG, {"pooling": "mean", **self.head_config()})

    @classmethod
    def from_pretrained(cls, folder: str | Path) -> MeanPoolClassifier:
        """A classifier written by `save_pretrained`."""
        folder = Path(folder)
        if not (folder / HEAD_CONFIG).is_file():
            raise CohesiveError(f"{folder} has no {HEAD_CONFIG}: not a saved mean-pooling classifier")
        spec = read_json(folder / HEAD_CONFIG)
        encoder = load_pretrained(AutoModel, str(folder))
        if spec.get("pair_encoding") == "bi":
            model = BiEncoderClassifier(encoder, spec["num_labels"], spec["regression"], spec["label_scale"])
        else:
            model = cls(encoder, spec["num_labels"], spec["regression"])
        model.head.load_state_dict(load_tensors(folder / HEAD_WEIGHTS))
        return model


class BiEncoderClassifier(MeanPoolClassifier):
    """Sentence pairs encoded one sentence at a time: u and v are the masked means of each
    sentence's token states (the `_b` inputs hold the second sentence). Regression predicts
    `label_scale * cos(u, v)` (the sentence-transformers cosine loss, on the label's scale);
    classification puts the linear head on `[u, v, |u - v|]` (their softmax loss)."""

    def __init__(self, encoder: nn.Module, num_labels: int, regression: bool, label_scale: float = 1.0):
        super().__init__(encoder, num_labels, regression)
        self.label_scale = label_scale
        # regression is the scaled cosine itself: no weights
        self.head = nn.Identity() if regression else nn.Linear(3 * encoder.config.hidden_size, num_labels)

    @classmethod
    def from_backbone(cls, path: str, num_labels: int, regression: bool,
                      label_scale: float = 1.0) -> BiEncoderClassifier:
        return cls(load_pretrained(AutoModel, path), num_labels, regression, label_scale)

    def embed(self, input_ids, attention_mask, token_type_ids) -> torch.Tensor:
        states = self.encoder(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state
        return mean_pool(states, attention_mask)

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, input_ids_b=None,
                attention_mask_b=None, token_type_ids_b=None, labels=None, **_):
        u = self.embed(input_ids, attention_mask, token_type_ids)
        v = self.embed(input_ids_b, attention_mask_b, token_type_ids_b)
        if self.regression:
            logits = self.label_scale * nn.functional.cosine_similarity(u, v, dim=-1).unsqueeze(-1)
        else:
            logits = self.head(self.dropout(torch.cat([u, v, (u - v).abs()], dim=-1)))
        return SequenceClassifierOutput(loss=None if labels is None else self.loss(logits, labels), logits=logits)

    def head_config(self) -> dict:
        return {**super().head_config(), "pair_encoding": "bi", "label_scale": self.label_scale}


class PairCollator:
    """Pads the first and the second sentence of each pair separately (the second's keys end in `_b`)."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer

    def __call__(self, rows: list[dict]) -> dict:
        first = self.tokenizer.pad([{k: v for k, v in r.items() if k != "labels" and not k.endswith("_b")}
                                    for r in rows], return_tensors="pt")
        second = self.tokenizer.pad([{k[:-2]: v for k, v in r.items() if k.endswith("_b")} for r in rows],
                                    return_tensors="pt")
        return {**first, **{f"{k}_b": v for k, v in second.items()},
                "labels": torch.tensor([r["labels"] for r in rows])}
