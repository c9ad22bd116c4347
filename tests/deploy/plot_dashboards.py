"""Pictures of the Grafana dashboards: each panel's queries from Prometheus, drawn by matplotlib.

The test that runs the dashboards against the platform (``test_dashboards.py``)
draws them into ``var/dashboards/`` on every run; with ``REFRESH_DOCS=1`` it
writes ``docs/dashboards/`` instead, the pictures the README shows.
"""

from __future__ import annotations

import math
import os
import re
from datetime import UTC, datetime
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display here

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
from matplotlib.axes import Axes

from deploy.grafana.dashboards import Dashboard, Panel
from shared.services import ROOT
from tests.deploy.prometheus_server import PrometheusServer

DOCS = ROOT / "docs" / "dashboards"
RUN = ROOT / "var" / "dashboards"
PERCENT_UNITS = frozenset({"percentunit"})


def pictures_folder() -> Path:
    """``docs/dashboards/`` when ``REFRESH_DOCS=1``, else ``var/dashboards/``."""
    return DOCS if os.environ.get("REFRESH_DOCS") == "1" else RUN


def legend(template: str, labels: dict[str, str]) -> str:
    """Grafana's ``legendFormat`` filled in with a series' labels."""
    return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda match: labels.get(match.group(1), ""), template)


def _draw_panel(
    axes: Axes, server: PrometheusServer, panel: Panel, start: float, end: float
) -> int:
    drawn = 0
    step = max(1.0, (end - start) / 200)
    for query in panel.queries:
        for series in server.query_range(query.expr, start, end, step):
            points = [
                (datetime.fromtimestamp(float(moment), UTC), float(value))
                for moment, value in series["values"]
                if math.isfinite(float(value))
            ]
            if not points:
                continue
            times, values = zip(*points, strict=True)
            if panel.unit in PERCENT_UNITS:
                values = tuple(value * 100 for value in values)
            axes.plot(times, values, linewidth=1.2, label=legend(query.legend, series["metric"]))
            drawn += 1
    axes.set_title(panel.title, fontsize=9, loc="left")
    unit = {"percentunit": "%", "reqps": "req/s", "ops": "/s", "s": "seconds"}.get(panel.unit)
    if unit:
        axes.set_ylabel(unit, fontsize=7)
    axes.tick_params(labelsize=6)
    axes.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M:%S"))
    axes.grid(alpha=0.3)
    if drawn:
        axes.legend(fontsize=5, loc="upper left", ncol=2, frameon=False)
    else:
        axes.text(0.5, 0.5, "No data", ha="center", va="center", transform=axes.transAxes)
    return drawn


def plot_dashboard(
    server: PrometheusServer, dashboard: Dashboard, start: float, end: float, folder: Path
) -> dict[str, int]:
    """Draw every panel of ``dashboard`` into ``<folder>/<name>.png``; series drawn per panel."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = math.ceil(len(dashboard.panels) / 2)
    figure, grid = plt.subplots(rows, 2, figsize=(12, 2.8 * rows), squeeze=False)
    drawn: dict[str, int] = {}
    for number, panel in enumerate(dashboard.panels):
        drawn[panel.title] = _draw_panel(grid[number // 2][number % 2], server, panel, start, end)
    for number in range(len(dashboard.panels), rows * 2):
        grid[number // 2][number % 2].set_visible(False)
    figure.suptitle(dashboard.title, fontsize=12, x=0.01, ha="left")
    figure.tight_layout()
    figure.savefig(folder / f"{dashboard.name}.png", dpi=90)
    plt.close(figure)
    return drawn
