"""End-to-end tests: the gateway and every declared service as real processes."""
