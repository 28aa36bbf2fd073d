"""cohesive: the cohesive distillation architecture for neural language models."""

__version__ = "0.1.0"
