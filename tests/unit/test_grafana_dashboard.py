"""docs/grafana/cairn.json is built on metrics Cairn exports: every metric a panel
queries is one listed in docs/operations.md's metrics reference (a renamed metric
breaks this test, not the operator's dashboard)."""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SUFFIXES = ("_bucket", "_sum", "_count")


def test_every_panel_queries_documented_metrics() -> None:
    dashboard = json.loads((ROOT / "docs/grafana/cairn.json").read_text())
    reference = (ROOT / "docs/operations.md").read_text()
    documented = set(re.findall(r"`(cairn_[a-z0-9_]+)`", reference))
    assert len(dashboard["panels"]) >= 10
    used = set()
    for panel in dashboard["panels"]:
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            used.update(re.findall(r"\bcairn_[a-z0-9_]+", target["expr"]))
    for name in used:
        base = next((name[: -len(s)] for s in SUFFIXES if name.endswith(s)), name)
        assert name in documented or base in documented, f"{name} is not in operations.md"
