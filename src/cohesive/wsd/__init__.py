"""Word sense disambiguation: scorer, baselines, context-gloss models and prediction."""
