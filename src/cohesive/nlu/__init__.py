"""GLUE fine-tuning harness: any encoder checkpoint, official dev metrics, several seeds."""
