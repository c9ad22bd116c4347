"""The search service: customer events in, full-text search with facets and suggestions out."""
