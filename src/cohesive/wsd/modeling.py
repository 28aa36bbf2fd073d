"""WSD models: the LMGC / LMGC-M cross-encoder and the BEM bi-encoder.

Cross-encoder (LMGC, LMGC-M). LMGC puts a 2-way classifier (match / no match) on the pair's first token. LMGC-M masks the same
pair input (15%, 80/10/10) and adds the masked-LM loss of the model's own MLM head, unweighted,
so that the encoder keeps its language-modelling ability. For BERT checkpoints that carry a
next-sentence head (BertForPreTraining), `pair_head="nsp"` uses it as the classifier: no new
parameter, as in the thesis. NSP's class 0 means "B follows A", so its logits are flipped to
keep index 1 = match everywhere.

A trained model folder is a plain `save_pretrained` checkpoint of the backbone (usable as an
AutoModelForMaskedLM for GLUE afterwards), plus `pair_head.safetensors` (linear head only),
`lmgc.json` and the tokenizer.

Bi-encoder (BEM). The target is represented by the mean of its sub-word states in the plain sentence (no markers,
so one encoding serves every target of a sentence); a sense by the first-token state of its gloss
(`lemma : gloss`, as in the pairs). The score is their dot product; training is cross-entropy
over each instance's candidates, on the same SemCor instances and candidates as LMGC. Gloss
vectors are cached per sense key, so prediction costs one encoder pass per sentence plus one
per distinct gloss.

Every trained folder carries `wsd_model.json` with its `architecture` (`cross-encoder`,
`bi-encoder`, `gloss-bank`) and settings; `read_model_meta` reads it (and the older per-model names).
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F
from transformers import AutoConfig, AutoModel, AutoModelForMaskedLM, BertForPreTraining

from cohesive.atomic import save_safetensors, write_json
from cohesive.distill.mlm import IGNORE, mlm_head
from cohesive.errors import CohesiveError
from cohesive.files import load_tensors, open_tensors, read_json
from cohesive.models import require_safetensors, resolve_model
from cohesive.wsd.data import span_mask
from cohesive.wsd.types import PAIR_HEADS, WsdOutput

log = logging.getLogger(__name__)

META_FILE = "wsd_model.json"
LEGACY_META = {"lmgc.json": "cross-encoder", "biencoder.json": "bi-encoder", "glossbank.json": "gloss-bank"}
PAIR_HEAD_FILE = "pair_head.safetensors"
TRAINING_MARKER = "TRAINING"  # present while `wsd train` writes into a folder (and after a killed run)


def read_model_meta(directory: str | Path) -> dict | None:
    """The settings of a trained WSD model folder (with its `architecture`), or None if it is not one."""
    directory = Path(directory)
    for name, architecture in [(META_FILE, None), *LEGACY_META.items()]:
        path = directory / name
        if path.is_file():
            meta = read_json(path)
            if not isinstance(meta, dict):
                raise CohesiveError(f"{path}: not a model description (a JSON object)")
            meta.setdefault("architecture", architecture)
            if meta["architecture"] not in LEGACY_META.values():
                raise CohesiveError(f"{path}: unknown architecture {meta['architecture']!r}")
            return meta
    return None


class PairHead(nn.Module):
    """BERT's pooler + classifier (dense, tanh, linear to 2) on the first token, for any encoder."""

    def __init__(self, hidden: int, dropout: float = 0.1):
        super().__init__()
        self.dense = nn.Linear(hidden, hidden)
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(hidden, 2)

    def forward(self, first_token: torch.Tensor) -> torch.Tensor:
        return self.out(self.dropout(torch.tanh(self.dense(self.dropout(first_token)))))


class LmgcModel(nn.Module):
    """Backbone + pair classifier; with objective `lmgc-m`, also the MLM loss on the same (masked) input."""

    def __init__(self, backbone: nn.Module, pair_head: str = "linear", objective: str = "lmgc",
                 max_length: int = 128, max_gloss_tokens: int = 48):
        super().__init__()
        if objective not in ("lmgc", "lmgc-m"):
            raise CohesiveError(f"LmgcModel objective must be lmgc or lmgc-m, got {objective!r}")
        self.backbone = backbone
        self.pair_head_kind = pair_head
        self.objective = objective
        self.max_length = max_length
        self.max_gloss_tokens = max_gloss_tokens
        if pair_head == "nsp":
            if not _has_nsp_head(backbone):
                raise CohesiveError(f"{type(backbone).__name__} has no next-sentence head; use pair_head=linear")
            self.classifier = None
        elif pair_head == "linear":
            config = backbone.config
            dropout = getattr(config, "hidden_dropout_prob", getattr(config, "dropout", 0.1))
            self.classifier = PairHead(config.hidden_size, dropout)
        else:
            raise CohesiveError(f"unknown pair_head {pair_head!r}; choose from {', '.join(PAIR_HEADS)}")
        if objective == "lmgc-m":
            self.lm_head()  # fail now, not at the first step

    def lm_head(self) -> nn.Module:
        """The backbone's masked-LM head (BertForPreTraining keeps it next to the NSP head)."""
        heads = getattr(self.backbone, "cls", None)
        if heads is not None and hasattr(heads, "seq_relationship"):
            return heads.predictions
        try:
            return mlm_head(self.backbone)
        except CohesiveError:
            raise CohesiveError(f"LMGC-M needs a masked-LM head and {type(self.backbone).__name__} has none; "
                                "use objective=lmgc or an AutoModelForMaskedLM checkpoint") from None

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor | None = None,
                labels: torch.Tensor | None = None, mlm_labels: torch.Tensor | None = None) -> WsdOutput:
        extra = {"token_type_ids": token_type_ids} if token_type_ids is not None else {}
        out = self.backbone.base_model(input_ids=input_ids, attention_mask=attention_mask, **extra)
        hidden = out.last_hidden_state
        if self.classifier is None:
            logits = self.backbone.cls.seq_relationship(out.pooler_output).flip(-1)
        else:
            logits = self.classifier(hidden[:, 0])
        parts = {}
        if labels is not None:
            parts["pair"] = F.cross_entropy(logits, labels)
        if mlm_labels is not None and self.objective == "lmgc-m":
            parts["mlm"] = masked_lm_loss(self.lm_head(), hidden, mlm_labels)
        loss = sum(parts.values()) if parts else None
        return WsdOutput(loss, logits, {k: v.detach() for k, v in parts.items()})

    def save_pretrained(self, directory: str | Path) -> None:
        directory = Path(directory)
        self.backbone.save_pretrained(str(directory))
        if self.classifier is not None:
            weights = {k: v.contiguous() for k, v in self.classifier.state_dict().items()}
            save_safetensors(directory / PAIR_HEAD_FILE, weights)
        write_json(directory / META_FILE, {"architecture": "cross-encoder", "format": 1, "pair_head": self.pair_head_kind,
                                           "objective": self.objective, "max_length": self.max_length,
                                           "max_gloss_tokens": self.max_gloss_tokens})

    @classmethod
    def from_pretrained(cls, name: str | Path, objective: str | None = None, pair_head: str = "auto",
                        max_length: int = 128, max_gloss_tokens: int = 48) -> LmgcModel:
        """A trained LMGC folder (its own settings), or a fresh pair head on any encoder checkpoint."""
        path = resolve_model(str(name))
        meta = read_model_meta(path) or {}
        objective = objective or meta.get("objective", "lmgc")
        kind = meta.get("pair_head") or _choose_pair_head(path, pair_head)
        model = cls(_load_backbone(path, kind, objective), kind, objective, meta.get("max_length", max_length),
                    meta.get("max_gloss_tokens", max_gloss_tokens))
        if meta and model.classifier is not None:
            model.classifier.load_state_dict(load_tensors(Path(path) / PAIR_HEAD_FILE))
        return model


def _has_nsp_head(backbone: nn.Module) -> bool:
    return hasattr(getattr(backbone, "cls", None), "seq_relationship")


def checkpoint_keys(path: str) -> set[str]:
    """Weight names stored in a safetensors checkpoint folder (empty when it has none)."""
    index = Path(path) / "model.safetensors.index.json"
    if index.is_file():
        return set(read_json(index, keys=["weight_map"])["weight_map"])
    single = Path(path) / "model.safetensors"
    if not single.is_file():
        return set()
    with open_tensors(single) as weights:
        return set(weights.keys())


def _choose_pair_head(path: str, requested: str) -> str:
    """`auto`: the NSP head when the checkpoint has trained NSP weights, else a new linear head."""
    if requested not in PAIR_HEADS:
        raise CohesiveError(f"unknown pair_head {requested!r}; choose from {', '.join(PAIR_HEADS)}")
    has_nsp = "cls.seq_relationship.weight" in checkpoint_keys(path)
    if requested == "nsp" and not has_nsp:
        log.warning("%s has no trained next-sentence head: the NSP classifier starts from random weights", path)
    if requested == "auto":
        return "nsp" if has_nsp else "linear"
    return requested


def _load_backbone(path: str, pair_head: str, objective: str) -> nn.Module:
    require_safetensors(path)
    try:
        config = AutoConfig.from_pretrained(path, trust_remote_code=False)
    except OSError as exc:
        raise CohesiveError(f"cannot load model {path!r}: {str(exc).splitlines()[0]}") from None
    if pair_head == "nsp":
        if config.model_type != "bert":
            raise CohesiveError(f"{path}: pair_head=nsp needs a BERT checkpoint, not {config.model_type}")
        return BertForPreTraining.from_pretrained(path)
    try:
        return AutoModelForMaskedLM.from_pretrained(path, trust_remote_code=False)
    except ValueError:
        if objective == "lmgc-m":
            raise CohesiveError(f"{path}: {config.model_type} models have no masked-LM head, which LMGC-M needs; "
                                "use objective=lmgc") from None
        return AutoModel.from_pretrained(path, trust_remote_code=False)


def masked_lm_loss(head: nn.Module, hidden: torch.Tensor, mlm_labels: torch.Tensor) -> torch.Tensor:
    """MLM cross-entropy with vocabulary logits only at the masked positions (the projection dominates
    CPU cost); a 0 still in the graph when nothing is masked. LMGC-M and gloss-bank-m both use it."""
    where = mlm_labels != IGNORE
    if not where.any():
        return hidden.sum() * 0.0
    return F.cross_entropy(head(hidden[where]), mlm_labels[where])


def target_states(encoder: nn.Module, context_ids, context_mask, rows, starts, ends) -> torch.Tensor:
    """One encoder pass over the context rows; per target, the mean state of its tokens [starts, ends)
    in context row `rows` (so every target of a sentence reads the same pass)."""
    return pool_targets(encoder(input_ids=context_ids, attention_mask=context_mask).last_hidden_state,
                        rows, starts, ends)


def pool_targets(hidden: torch.Tensor, rows, starts, ends) -> torch.Tensor:
    """Per target, the mean of `hidden[rows]` over its token span [starts, ends)."""
    weights = span_mask(starts, ends, hidden.shape[1]).to(hidden.dtype)
    return torch.einsum("nl,nlh->nh", weights, hidden[rows]) / weights.sum(1, keepdim=True).clamp(min=1)


def candidate_output(scores: torch.Tensor, candidates: torch.Tensor, gold: torch.Tensor | None,
                     part: str) -> WsdOutput:
    """Bi-encoder output: `scores` [targets, glosses] gathered at each target's candidate glosses
    (padding at -inf); with `gold`, loss = -log P(gold senses) over the candidates (logged as `part`)."""
    logits = scores.gather(1, candidates.clamp(min=0)).masked_fill(candidates < 0, float("-inf"))
    if gold is None:
        return WsdOutput(None, logits)
    loss = (torch.logsumexp(logits, 1) - torch.logsumexp(logits.masked_fill(~gold, float("-inf")), 1)).mean()
    return WsdOutput(loss, logits, {part: loss.detach()})


class BiEncoder(nn.Module):
    """Two encoders (context, gloss) initialised from the same checkpoint."""

    def __init__(self, context_encoder: nn.Module, gloss_encoder: nn.Module, max_length: int = 128,
                 max_gloss_tokens: int = 48):
        super().__init__()
        self.context_encoder = context_encoder
        self.gloss_encoder = gloss_encoder
        self.max_length = max_length
        self.max_gloss_tokens = max_gloss_tokens

    def context_vectors(self, context_ids: torch.Tensor, context_mask: torch.Tensor, rows: torch.Tensor,
                        starts: torch.Tensor, ends: torch.Tensor) -> torch.Tensor:
        """Mean hidden state over each target's tokens [starts, ends) of context row `rows`."""
        return target_states(self.context_encoder, context_ids, context_mask, rows, starts, ends)

    def gloss_vectors(self, gloss_ids: torch.Tensor, gloss_mask: torch.Tensor) -> torch.Tensor:
        return self.gloss_encoder(input_ids=gloss_ids, attention_mask=gloss_mask).last_hidden_state[:, 0]

    def forward(self, context_ids, context_mask, rows, starts, ends, gloss_ids, gloss_mask, candidates,
                gold=None) -> WsdOutput:
        """Scores [targets, candidates] (padding at -inf); loss = -log P(gold senses) over the candidates."""
        targets = self.context_vectors(context_ids, context_mask, rows, starts, ends)
        return candidate_output(targets @ self.gloss_vectors(gloss_ids, gloss_mask).T, candidates, gold, "bem")

    def save_pretrained(self, directory: str | Path) -> None:
        directory = Path(directory)
        self.context_encoder.save_pretrained(str(directory / "context"))
        self.gloss_encoder.save_pretrained(str(directory / "gloss"))
        write_json(directory / META_FILE, {"architecture": "bi-encoder", "format": 1, "max_length": self.max_length,
                                           "max_gloss_tokens": self.max_gloss_tokens})

    @classmethod
    def from_pretrained(cls, name: str | Path, max_length: int = 128, max_gloss_tokens: int = 48) -> BiEncoder:
        """A trained bi-encoder folder, or both encoders initialised from one encoder checkpoint."""
        path = Path(resolve_model(str(name)))
        meta = read_model_meta(path)
        for folder in (path / "context", path / "gloss") if meta else (path,):
            require_safetensors(folder)
        if meta:
            return cls(AutoModel.from_pretrained(str(path / "context"), trust_remote_code=False),
                       AutoModel.from_pretrained(str(path / "gloss"), trust_remote_code=False),
                       meta["max_length"], meta["max_gloss_tokens"])
        return cls(AutoModel.from_pretrained(str(path), trust_remote_code=False),
                   AutoModel.from_pretrained(str(path), trust_remote_code=False), max_length, max_gloss_tokens)
