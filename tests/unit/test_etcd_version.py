"""Which etcd Cairn runs (issue 14, finding 7: `cluster up`, the tests and compose ran etcd
3.5.1, which can become inconsistent after a crash: etcd-io/etcd#13766)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from meta.etcd_launch import MINIMUM, bundled_etcd, etcd_version, pick_etcd_binary


def test_the_bundled_etcd_is_used_last_and_with_a_warning(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CAIRN_ETCD_BINARY", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")  # no etcd on PATH
    bundled = etcd_version(str(bundled_etcd()))
    assert bundled is not None
    with caplog.at_level(logging.WARNING, logger="cairn.etcd"):
        assert pick_etcd_binary() == bundled_etcd()
    warned = "only etcd" in caplog.text and "etcd-io/etcd#13766" in caplog.text
    assert warned == (bundled < MINIMUM)


def test_an_old_etcd_on_path_is_not_preferred(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An etcd on PATH is taken only if it is 3.5.4 or later."""
    monkeypatch.delenv("CAIRN_ETCD_BINARY", raising=False)
    (tmp_path / "etcd").symlink_to(bundled_etcd())
    monkeypatch.setenv("PATH", str(tmp_path))
    chosen = pick_etcd_binary()
    if (etcd_version(str(bundled_etcd())) or (0, 0, 0)) < MINIMUM:
        assert chosen == bundled_etcd()
    else:
        assert chosen == tmp_path / "etcd"


def test_an_explicit_binary_comes_first_and_must_be_etcd(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CAIRN_ETCD_BINARY", str(bundled_etcd()))
    assert pick_etcd_binary() == bundled_etcd()
    with pytest.raises(SystemExit, match="not an etcd binary"):
        pick_etcd_binary("/bin/true")


def test_cluster_up_takes_etcd_binary_and_refuses_a_wrong_one(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAIRN_")}
    out = subprocess.run(
        [
            sys.executable, "-m", "cairn.cli", "cluster", "up", "--data", str(tmp_path / "c"),
            "--etcd", "1", "--etcd-binary", "/bin/true",
        ],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode != 0 and "/bin/true is not an etcd binary" in out.stderr
    assert not (tmp_path / "c" / "cluster.json").exists()
