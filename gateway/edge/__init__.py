"""The door every request passes: the guard, rate limits, the route table, forwarding."""
