"""Machine-paraphrase plagiarism detection: a generated corpus (WordNet spinner, masked-LM
mask-and-fill), detectors behind one `detector(texts) -> probabilities` interface, per-cell
evaluation and paragraph-level document scanning."""
