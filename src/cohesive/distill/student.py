"""The student MLM: from a config, or DistilBERT-style from a teacher by keeping every other layer."""

from __future__ import annotations

import re

import torch
from transformers import AutoConfig, AutoModelForMaskedLM, BertConfig, BertForMaskedLM

from cohesive.errors import CohesiveError
from cohesive.models import require_safetensors

_LAYER = re.compile(r"^(.*\.layer\.)(\d+)(\..*)$")


def student_from_config(vocab_size: int, layers: int, hidden: int, heads: int, max_positions: int = 512,
                        seed: int = 0) -> BertForMaskedLM:
    """A randomly initialised BERT MLM of the given shape (the teachers' vocabulary)."""
    if hidden % heads:
        raise CohesiveError(f"student hidden size {hidden} is not divisible by {heads} heads")
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=vocab_size, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                        intermediate_size=4 * hidden, max_position_embeddings=max_positions)
    return BertForMaskedLM(config)


def student_from_teacher(teacher: str) -> torch.nn.Module:
    """Copy a teacher, keeping layers 0, 2, 4, ... (DistilBERT's initialisation); same width and vocabulary."""
    require_safetensors(teacher)
    config = AutoConfig.from_pretrained(teacher, trust_remote_code=False)
    if not hasattr(config, "num_hidden_layers"):
        raise CohesiveError(f"{teacher}: cannot halve a {config.model_type} model; give the student's shape instead")
    source = AutoModelForMaskedLM.from_pretrained(teacher, trust_remote_code=False)
    kept = list(range(0, config.num_hidden_layers, 2))
    config.num_hidden_layers = len(kept)
    student = AutoModelForMaskedLM.from_config(config)
    renumber = {old: new for new, old in enumerate(kept)}
    state = {}
    for name, tensor in source.state_dict().items():
        match = _LAYER.match(name)
        if match is None:
            state[name] = tensor
        elif int(match.group(2)) in renumber:
            state[f"{match.group(1)}{renumber[int(match.group(2))]}{match.group(3)}"] = tensor
    missing, unexpected = student.load_state_dict(state, strict=False)
    if unexpected or [m for m in missing if "decoder" not in m]:
        raise CohesiveError(f"{teacher}: layer names not understood for every-other-layer copying ({(missing + unexpected)[:3]})")
    student.tie_weights()
    return student
