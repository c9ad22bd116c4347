"""The customer API: system of record for customers and their notes."""
