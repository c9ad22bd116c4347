"""Each service held to its OpenAPI contract, and each contract to the service declaration."""
