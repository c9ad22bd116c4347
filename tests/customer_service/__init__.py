"""Tests of the customer API on its own: unit and integration, with tokens from a test issuer."""
