"""`cohesive serve`: a local web page (and JSON API) that shows a text's word senses and its
suspected machine-paraphrased passages, from the shipped WSD model and paraphrase detector."""

MAX_BYTES = 200_000  # the largest text a server reads by default (`--max-bytes`)
