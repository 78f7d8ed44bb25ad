"""The example Grafana dashboard (docs/grafana-dashboard.json) asks only for metrics and labels Baton exports."""

from __future__ import annotations

import json
import re

from ops import metrics
from tests.conftest import REPO

DASHBOARD = REPO / "docs" / "grafana-dashboard.json"
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum")}


def _families() -> dict[str, tuple[str, set[str]]]:
    """Each exported series name → (its family, the labels it may be grouped or filtered by)."""
    made = [*vars(metrics.instruments()).values(), *metrics.scheduler_histograms()]
    names: dict[str, tuple[str, set[str]]] = {}
    for metric in made:
        kind, labels = metric._type, set(metric._labelnames)
        for suffix in SUFFIXES[kind]:
            names[metric._name + suffix] = (metric._name, labels | ({"le"} if suffix == "_bucket" else set()))
    return names


def _queries() -> list[str]:
    board = json.loads(DASHBOARD.read_text())
    panels = [target["expr"] for panel in board["panels"] for target in panel.get("targets", [])]
    variables = [v["definition"] for v in board["templating"]["list"] if v["type"] == "query"]
    return panels + variables


def test_every_query_names_an_exported_series_and_only_its_labels():
    families, seen = _families(), set()
    for query in _queries():
        names = set(re.findall(r"\bbaton_\w+", query))
        assert names, query
        for name in names:
            assert name in families, f"{name} is not exported ({query})"
            seen.add(families[name][0])
            allowed = families[name][1]
            grouped = {label.strip() for group in re.findall(r"by \(([^)]*)\)", query) for label in group.split(",")}
            filtered = set(re.findall(r"(\w+)=~?\"", query))
            variable = set(re.findall(r"label_values\(\w+, (\w+)\)", query))
            assert grouped | filtered | variable <= allowed, f"{query} uses labels {name} does not have"
    # Every family is on the board: batches, node runs, the scheduler, the sweep, the alerts.
    assert seen == {family for family, _ in families.values()}
