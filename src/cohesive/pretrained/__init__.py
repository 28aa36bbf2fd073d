"""Trained artefacts shipped with the package: small deltas over the PyPI MiniLM and the compact POS
tagger, each in its own folder with a model card (README.md) saying how it was made."""

from __future__ import annotations

from pathlib import Path

SHIPPED = Path(__file__).resolve().parent


def shipped(name: str) -> Path:
    """The folder (or file) of a shipped artefact, e.g. `shipped("wsd-minilm")`."""
    return SHIPPED / name
