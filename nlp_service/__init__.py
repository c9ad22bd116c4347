"""The NLP service: embeddings, sentiment, classification and batch jobs on a local model."""
