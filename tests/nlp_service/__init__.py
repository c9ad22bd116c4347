"""Tests of the NLP service: the real packaged model, its API and the micro-batcher."""
