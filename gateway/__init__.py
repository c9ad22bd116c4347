"""The gateway: the public API's front door (authentication, RBAC, routing)."""
