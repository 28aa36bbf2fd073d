"""cohesive: the cohesive distillation architecture for neural language models."""

__version__ = "0.1.0"


def disambiguate(text: str, **kwargs):
    """Raw-text WSD (:func:`cohesive.wsd.disambiguate.disambiguate`), imported lazily so `import cohesive` stays light."""
    from cohesive.wsd.disambiguate import disambiguate as _disambiguate

    return _disambiguate(text, **kwargs)
