"""Gloss-bank bi-encoder: the CPU workhorse that trains on all of SemCor in about an hour.

BEM (Blevins & Zettlemoyer 2020) trains a gloss encoder beside the context encoder, so every step
re-encodes up to a hundred candidate glosses with gradients. Here the gloss side is the frozen base
encoder, pooled as it was trained (MiniLM is a mean-pooling sentence encoder): each sense's
`lemma : gloss` vector is computed once, cached on disk keyed by the base weights' digest, and only
a linear map on top of it is learnt. The context side is the base encoder with LoRA adapters; one
pass over a sentence serves all of its targets (SemCor: 226k instances in 37k sentences), and
training batches are whole sentences of similar length. Score = s * cos(C h_target, G g_sense),
cross-entropy over the target's candidate senses.

`gloss-bank-m` is the LMGC-M of this architecture: the contexts are also masked (15%, never a
target's tokens) and the base's own frozen MLM head adds the masked-LM loss on the same pass, so
the adapters must keep the language model while they learn senses.

A trained folder is a small delta over the base checkpoint: `adapter/` (peft LoRA weights),
`heads.safetensors` (C, G, s) and `glossbank.json` (base name and weight digest, checked at load).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open
from torch import nn
from torch.nn import functional as F
from tqdm import tqdm
from transformers import AutoModel, AutoModelForMaskedLM

from cohesive.atomic import save_safetensors, write_json
from cohesive.distill.mlm import mlm_head
from cohesive.errors import CohesiveError
from cohesive.files import load_tensors, open_tensors
from cohesive.lexicon.locate import cache_dir
from cohesive.models import load_pretrained, resolve_model, weights_digest
from cohesive.wsd.data import PairEncoder, pad_id, pad_sequences, single_affixes
from cohesive.wsd.modeling import (
    META_FILE,
    candidate_output,
    masked_lm_loss,
    pool_targets,
    read_model_meta,
    target_states,
)
from cohesive.wsd.types import WsdOutput

log = logging.getLogger(__name__)

HEADS_FILE = "heads.safetensors"
SENSES_FILE = "senses.safetensors"  # the learnt sense offsets' codes (fp16) and their sense keys
ADAPTER_DIR = "adapter"
ADAPTER_WEIGHTS = "adapter_model.safetensors"  # what peft's save_pretrained writes
BANK_FORMAT = 1
#: BERT-style module names that get LoRA adapters (attention projections and both feed-forward layers).
LORA_TARGETS = (r".*encoder\.layer\.\d+\."
                r"(attention\.self\.(query|key|value)|attention\.output\.dense|intermediate\.dense|output\.dense)")


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of the states under `mask` (sentence-transformers' pooling of MiniLM)."""
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1)


class GlossBank:
    """Frozen-encoder vectors of sense glosses, keyed by sense key, cached on disk.

    The cache folder is named by a digest of the encoder's weights, the pooling, the gloss text
    format and its token limit, so a different base model never reads another's vectors. New
    vectors are appended as extra safetensors shards, each written atomically."""

    def __init__(self, encoder: nn.Module, tokenizer, pair_encoder: PairEncoder, encoder_digest: str,
                 root: Path | None = None, batch_size: int = 256):
        self.encoder = encoder.eval()
        self.pair_encoder = pair_encoder
        self.prefix, self.suffix = single_affixes(tokenizer)
        self.pad_id = pad_id(tokenizer)
        self.batch_size = batch_size
        identity = {"format": BANK_FORMAT, "encoder": encoder_digest, "pooling": "mean",
                    "text": "lemma : gloss", "max_gloss_tokens": pair_encoder.max_gloss_tokens}
        self.folder = (root or cache_dir() / "glossbank") / hashlib.sha256(
            json.dumps(identity, sort_keys=True).encode()).hexdigest()[:24]
        self._vectors: dict[str, torch.Tensor] = {}
        self._read_shards()

    def vectors(self, keys: Sequence[str], desc: str | None = None) -> torch.Tensor:
        """[len(keys), hidden] gloss vectors; the missing ones are encoded now and saved."""
        missing = [k for k in dict.fromkeys(keys) if k not in self._vectors]
        if missing:
            self._encode(missing, desc)
        if not keys:
            return torch.empty(0, self.encoder.config.hidden_size)
        return torch.stack([self._vectors[k] for k in keys])

    def encode(self, keys: Sequence[str]) -> torch.Tensor:
        """Fresh vectors of `keys` (no cache), in `keys` order."""
        ids = self.pair_encoder.gloss_ids(list(keys))
        order = np.argsort([len(i) for i in ids], kind="stable")
        out = torch.empty(len(keys), self.encoder.config.hidden_size)
        with torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                chunk = order[start:start + self.batch_size]
                batch, mask = pad_sequences(self.pad_id, [np.concatenate([self.prefix, ids[i], self.suffix]) for i in chunk])
                hidden = self.encoder(input_ids=batch, attention_mask=mask).last_hidden_state
                out[torch.from_numpy(chunk)] = mean_pool(hidden, mask).float()
        return out

    def _encode(self, keys: list[str], desc: str | None) -> None:
        encoded = []
        step = 8 * self.batch_size
        for start in tqdm(range(0, len(keys), step), desc=desc or "gloss bank", unit=" chunk", leave=False,
                          disable=None if len(keys) > step else True):
            encoded.append(self.encode(keys[start:start + step]))
        vectors = torch.cat(encoded)
        self._vectors.update(zip(keys, vectors))
        try:
            shard = self.folder / f"part-{len(list(self.folder.glob('part-*.safetensors'))):05d}.safetensors"
            save_safetensors(shard, {"vectors": vectors}, {"keys": json.dumps(keys)})
        except OSError as exc:  # a read-only cache only costs the re-encoding next time
            log.warning("gloss bank not cached (%s)", exc)

    def _read_shards(self) -> None:
        for shard in sorted(self.folder.glob("part-*.safetensors")):
            try:
                with safe_open(str(shard), framework="pt") as handle:
                    keys = json.loads(handle.metadata()["keys"])
                    self._vectors.update(zip(keys, handle.get_tensor("vectors")))
            except (OSError, ValueError, KeyError) as exc:
                log.warning("ignoring unreadable gloss-bank shard %s (%s)", shard, exc)


def _identity_linear(size: int) -> nn.Linear:
    layer = nn.Linear(size, size)
    with torch.no_grad():
        layer.weight.copy_(torch.eye(size))
        layer.bias.zero_()
    return layer


class GlossBankEncoder(nn.Module):
    """LoRA context encoder scored against frozen gloss-bank vectors through learnt linear maps.

    With `sense_rank` > 0 every sense seen as gold in training also gets a learnt low-rank offset
    (U c_sense) added to its mapped gloss vector: supervised sense embeddings in the spirit of LMMS,
    while unseen senses keep their gloss vector alone."""

    def __init__(self, context_encoder: nn.Module, meta: dict, lm_head: nn.Module | None = None):
        super().__init__()
        hidden = context_encoder.config.hidden_size
        self.context_encoder = context_encoder
        self.lm_head = lm_head  # the base's frozen MLM head (gloss-bank-m only; part of the base, never saved)
        self.context_head = _identity_linear(hidden)
        self.gloss_head = _identity_linear(hidden)
        self.log_scale = nn.Parameter(torch.tensor(math.log(meta.get("initial_scale", 20.0))))
        self.meta = meta
        self.max_length = meta["max_length"]
        self.max_gloss_tokens = meta["max_gloss_tokens"]
        self.sense_keys: list[str] = []
        self._sense_index: dict[str, int] = {}
        self.sense_codes: nn.Embedding | None = None
        self.sense_up: nn.Linear | None = None

    def add_senses(self, keys: Sequence[str]) -> None:
        """Learnable offsets for these senses (codes ~ N(0, 0.02), U = 0: training starts from the bank)."""
        rank = self.meta.get("sense_rank", 0)
        if not rank or not keys:
            return
        self.sense_keys = list(keys)
        self._sense_index = {k: i for i, k in enumerate(self.sense_keys)}
        self.sense_codes = nn.Embedding(len(self.sense_keys), rank)
        nn.init.normal_(self.sense_codes.weight, std=0.02)
        self.sense_up = nn.Linear(rank, self.config.hidden_size, bias=False)
        nn.init.zeros_(self.sense_up.weight)

    def sense_ids(self, keys: Sequence[str]) -> torch.Tensor:
        """Row of each sense key in the offset table, -1 for senses without one."""
        return torch.tensor([self._sense_index.get(k, -1) for k in keys], dtype=torch.long)

    @property
    def config(self):
        return self.context_encoder.config

    def context_vectors(self, context_ids, context_mask, rows, starts, ends) -> torch.Tensor:
        """s * unit(C h): h the mean state of each target's tokens [starts, ends) in context row `rows`."""
        targets = target_states(self.context_encoder, context_ids, context_mask, rows, starts, ends)
        return self._scaled(targets)

    def _scaled(self, targets: torch.Tensor) -> torch.Tensor:
        return self.log_scale.exp() * F.normalize(self.context_head(targets), dim=-1)

    def gloss_vectors(self, bank_vectors: torch.Tensor, sense_ids: torch.Tensor | None = None) -> torch.Tensor:
        """unit(G g + U c) for frozen bank vectors g (c = 0 for senses without an offset)."""
        mapped = self.gloss_head(bank_vectors)
        if self.sense_codes is not None and sense_ids is not None:
            known = (sense_ids >= 0).to(mapped.dtype)[:, None]
            mapped = mapped + known * self.sense_up(self.sense_codes(sense_ids.clamp(min=0)))
        return F.normalize(mapped, dim=-1)

    def forward(self, context_ids, context_mask, rows, starts, ends, gloss_vectors, candidates, gold=None,
                gloss_senses=None, mlm_labels=None) -> WsdOutput:
        """Scores [targets, candidates] (padding at -inf); loss = -log P(gold senses) over the candidates,
        plus, with `mlm_labels` (gloss-bank-m), the MLM loss of the same context pass (unweighted, as LMGC-M)."""
        hidden = self.context_encoder(input_ids=context_ids, attention_mask=context_mask).last_hidden_state
        targets = self._scaled(pool_targets(hidden, rows, starts, ends))
        out = candidate_output(targets @ self.gloss_vectors(gloss_vectors, gloss_senses).T, candidates, gold, "bank")
        if mlm_labels is None or out.loss is None:
            return out
        if self.lm_head is None:
            raise CohesiveError("masked contexts given to a gloss-bank model without an MLM head (objective gloss-bank)")
        mlm = masked_lm_loss(self.lm_head, hidden, mlm_labels)
        return WsdOutput(out.loss + mlm, out.logits, {**out.parts, "mlm": mlm.detach()})

    def save_pretrained(self, directory: str | Path) -> None:
        directory = Path(directory)
        self.context_encoder.save_pretrained(str(directory / ADAPTER_DIR))
        heads = {"context_head.weight": self.context_head.weight, "context_head.bias": self.context_head.bias,
                 "gloss_head.weight": self.gloss_head.weight, "gloss_head.bias": self.gloss_head.bias,
                 "log_scale": self.log_scale}
        if self.sense_codes is not None:
            heads["sense_up.weight"] = self.sense_up.weight
            save_safetensors(directory / SENSES_FILE, {"codes": self.sense_codes.weight.detach().half()},
                             {"keys": json.dumps(self.sense_keys)})
        save_safetensors(directory / HEADS_FILE, {k: v.detach() for k, v in heads.items()})
        write_json(directory / META_FILE, {"architecture": "gloss-bank", **self.meta})

    @classmethod
    def create(cls, base: str, lora_rank: int = 16, lora_alpha: float = 32.0, lora_dropout: float = 0.05,
               max_length: int = 128, max_gloss_tokens: int = 48, sense_rank: int = 0,
               mlm: bool = False) -> GlossBankEncoder:
        """A fresh model: LoRA adapters on `base` (`minilm` or a folder), identity heads; with `mlm`
        (gloss-bank-m) also the base's own MLM head, frozen."""
        from peft import LoraConfig, get_peft_model

        encoder, head = _load_base_with_head(base) if mlm else (_load_base(base), None)
        lora = LoraConfig(r=lora_rank, lora_alpha=lora_alpha, lora_dropout=lora_dropout, target_modules=LORA_TARGETS)
        meta = {"format": 1, "base": base, "base_digest": weights_digest(base), "max_length": max_length,
                "max_gloss_tokens": max_gloss_tokens, "lora_rank": lora_rank, "lora_alpha": lora_alpha,
                "pooling": "mean", "gloss_text": "lemma : gloss", "sense_rank": sense_rank,
                "objective": "gloss-bank-m" if mlm else "gloss-bank"}
        return cls(get_peft_model(encoder, lora), meta, head)

    @classmethod
    def from_pretrained(cls, directory: str | Path) -> GlossBankEncoder:
        """A trained folder; its base checkpoint must have exactly the weights it was trained on."""
        from peft import PeftModel

        directory = Path(directory)
        meta = read_meta(directory)
        check_base(meta, directory)
        heads = load_tensors(directory / HEADS_FILE)
        load_tensors(directory / ADAPTER_DIR / ADAPTER_WEIGHTS)  # a damaged adapter fails here, on one line
        mlm = meta.get("objective") == "gloss-bank-m"
        encoder, head = _load_base_with_head(meta["base"]) if mlm else (_load_base(meta["base"]), None)
        model = cls(PeftModel.from_pretrained(encoder, str(directory / ADAPTER_DIR)), meta, head)
        if (directory / SENSES_FILE).is_file():
            with open_tensors(directory / SENSES_FILE) as handle:
                model.add_senses(json.loads(handle.metadata()["keys"]))
                with torch.no_grad():
                    model.sense_codes.weight.copy_(handle.get_tensor("codes").float())
        with torch.no_grad():
            for name, value in heads.items():
                model.get_parameter(name).copy_(value)
        return model

    def merged_encoder(self) -> nn.Module:
        """The context encoder with the LoRA weights folded in (a plain, faster model for inference)."""
        return self.context_encoder.merge_and_unload()


def export_backbone(model_dir: str | Path, output: Path) -> Path:
    """A plain checkpoint of the trained context encoder (LoRA folded into the base weights), with the
    base's trained MLM head when the base has one (for either objective: gloss-bank-m keeps it frozen,
    so the head is the start's in both arms), so GLUE (`cohesive nlu`) and the held-out MLM check
    (`cohesive distill evaluate`) can use the model like any other backbone."""
    from transformers import AutoTokenizer

    from cohesive.atomic import staged_dir

    model = GlossBankEncoder.from_pretrained(model_dir)
    base = model.meta["base"]
    backbone, info = load_pretrained(AutoModelForMaskedLM, base, output_loading_info=True)
    if _lacks_mlm_head(backbone, info):
        backbone = load_pretrained(AutoModel, base)
    target = backbone.base_model
    kept = target.state_dict().keys()  # a masked LM's encoder has no pooler: drop the (unused) one
    target.load_state_dict({k: v for k, v in model.merged_encoder().state_dict().items()
                            if k in kept or not k.startswith("pooler.")})
    with staged_dir(output) as staging:
        backbone.save_pretrained(staging)
        AutoTokenizer.from_pretrained(resolve_model(base), trust_remote_code=False).save_pretrained(staging)
    return output


def _load_base(base: str) -> nn.Module:
    return load_pretrained(AutoModel, base)


def _load_base_with_head(base: str) -> tuple[nn.Module, nn.Module]:
    """The base's encoder and its trained MLM head (frozen); a base without one (MiniLM ships none) is refused."""
    model, info = load_pretrained(AutoModelForMaskedLM, base, output_loading_info=True)
    if _lacks_mlm_head(model, info):
        raise CohesiveError(f"{base} has no trained masked-LM head, which gloss-bank-m needs; use a masked-LM "
                            "checkpoint (e.g. the general teacher of `cohesive teachers build`) or objective gloss-bank")
    head = mlm_head(model)
    for parameter in head.parameters():
        parameter.requires_grad_(False)
    return model.base_model, head


def _lacks_mlm_head(model: nn.Module, loading_info: dict) -> bool:
    """Whether `from_pretrained(..., output_loading_info=True)` had to initialise weights outside the
    encoder (`base_model_prefix`), i.e. the MLM head, whatever the architecture calls it."""
    return any(not key.startswith(f"{model.base_model_prefix}.") for key in loading_info["missing_keys"])


def read_meta(directory: Path) -> dict:
    """A gloss-bank folder's settings; a missing part is one clear error."""
    meta = read_model_meta(directory) or {}
    missing = [k for k in ("base", "base_digest", "max_length", "max_gloss_tokens") if k not in meta]
    if meta.get("architecture") != "gloss-bank" or missing:
        raise CohesiveError(f"{Path(directory) / META_FILE}: not a valid gloss-bank model description")
    if not (Path(directory) / HEADS_FILE).is_file() or not (Path(directory) / ADAPTER_DIR).is_dir():
        raise CohesiveError(f"{directory}: incomplete gloss-bank model (needs {ADAPTER_DIR}/ and {HEADS_FILE})")
    return meta


def check_base(meta: dict, directory: Path) -> None:
    """The base weights must be those the adapters were trained on: a mismatch is one clear error."""
    found = weights_digest(meta["base"])
    if found != meta["base_digest"]:
        raise CohesiveError(f"{directory}: base model {meta['base']!r} has weights {found[:19]}..., but this model "
                            f"was trained on {meta['base_digest'][:19]}...; install the matching base model")


def bank_for(meta: dict, tokenizer, lexicon, root: Path | None = None) -> GlossBank:
    """The gloss bank of a model's base encoder (a frozen copy of the base weights)."""
    encoder = _load_base(meta["base"])
    for parameter in encoder.parameters():
        parameter.requires_grad_(False)
    pair_encoder = PairEncoder(tokenizer, lexicon, meta["max_length"], meta["max_gloss_tokens"], marker="")
    return GlossBank(encoder, tokenizer, pair_encoder, meta["base_digest"], root)


def resolve_base(name: str) -> str:
    """Base names are stored as given (`minilm` stays portable across machines)."""
    return name if name == "minilm" else str(Path(resolve_model(name)).resolve())
