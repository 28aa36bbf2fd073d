"""Corpus readers: the Raganato WSD format, plain text and GLUE."""
