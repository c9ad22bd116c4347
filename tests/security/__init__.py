"""The attack suite: what an attacker tries, run against every declared service and the gateway."""
