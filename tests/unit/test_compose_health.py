"""compose.yaml's health and metrics: every service has a healthcheck on its readiness
endpoint, and the metrics ports are published (on the host's loopback)."""

from __future__ import annotations

from tests.unit.test_compose import _config


def test_every_service_has_a_readiness_healthcheck() -> None:
    services = _config()["services"]
    for name, svc in services.items():
        test = svc["healthcheck"]["test"]
        if name.startswith("etcd"):
            assert "endpoint" in test and "health" in test
        else:
            assert "cairn.probe" in test and any("/_cairn/health/ready" in t for t in test), name


def test_metrics_ports_are_published() -> None:
    services = _config()["services"]

    def published(name: str) -> set[tuple[str, str]]:
        out = set()
        for p in services[name]["ports"]:  # docker-compose v1 gives both forms
            if isinstance(p, dict):
                out.add((str(p["published"]), str(p["target"])))
            else:
                *_, pub, target = p.split("/")[0].split(":")
                out.add((pub, target))
        return out

    assert ("9090", "9090") in published("gateway-0")
    assert ("9091", "9090") in published("gateway-1")
    assert ("9300", "9300") in published("meta-0")
    assert ("9301", "9300") in published("meta-1")
