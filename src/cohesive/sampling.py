"""Seeded subsampling shared by the stages that train on part of a training set."""

from __future__ import annotations

import random
from typing import TypeVar

T = TypeVar("T")


def seeded_subsample(items: list[T], limit: int | None, seed: int) -> list[T]:
    """At most `limit` items drawn with `seed`, in their original order (all items when `limit` is
    None or not smaller than the list): the same draw for every model, so models are compared on
    the same data seed by seed."""
    if limit is None or limit >= len(items):
        return items
    keep = sorted(random.Random(seed).sample(range(len(items)), limit))
    return [items[i] for i in keep]
