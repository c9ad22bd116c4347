"""Tests of the search service: the index from events, the search API, the consumer, reindex."""

#: The tables events fill and the triggers keep: truncated together, an index starts empty.
INDEX_TABLES = "documents, suggest_tails, facet_cells, notes, vocabulary, lexicon"
