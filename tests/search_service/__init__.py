"""Tests of the search service: the index from events, the search API, the consumer, reindex."""
