"""Grafana for Clientele: the dashboards, built from Python and provisioned as JSON."""
