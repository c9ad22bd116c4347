"""Prometheus for Clientele: scrape configurations, alert rules, `make run`'s server."""
