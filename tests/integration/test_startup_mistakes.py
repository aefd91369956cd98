"""Startup validates before it writes (issue 18): a port in use, a read-only data
directory, a taken metrics port each end `cairn serve` at once with one line and their own
exit status, and leave the directory as it was: no credentials.json, no master.key.
And `--tls-cert/--tls-key` serve HTTPS with the operator's own certificate."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest

from cairn.exits import Exit
from cairn.launcher import free_port
from tests.server import ACCESS_KEY, SECRET_KEY, CairnServer


def serve(data: Path, *args: str, env: dict[str, str] | None = None, wrap: list[str] | None = None):  # type: ignore[no-untyped-def]  # fmt: skip
    command = [sys.executable, "-m", "cairn.cli", "serve", "--data", str(data), *args]
    return subprocess.run(
        [*(wrap or []), *command], capture_output=True, text=True, timeout=60,
        env={**os.environ, **(env or {})},
    )  # fmt: skip


def test_a_port_in_use_is_named_before_any_file_is_written(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        done = serve(tmp_path / "data", "--port", str(port))
    assert done.returncode == Exit.PORT_IN_USE
    assert f"port 127.0.0.1:{port} is in use" in done.stderr and "--port" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "data").exists(), "files were written before the port was checked"


def test_a_taken_metrics_port_is_named_too(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        done = serve(tmp_path / "data", "--port", str(free_port()), "--metrics-port", str(taken))
    assert done.returncode == Exit.PORT_IN_USE
    assert "metrics port" in done.stderr and "--metrics-port" in done.stderr
    assert not (tmp_path / "data").exists()


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare(1)")
def test_a_read_only_data_directory_with_env_credentials_stops_at_once(tmp_path: Path) -> None:
    """A read-only mount, in a mount namespace of its own (as root, permissions alone
    would not stop a write); the store was made by an earlier start."""
    data = tmp_path / "data"
    CairnServer(data).start().stop()
    before = sorted(p.name for p in data.iterdir())
    if os.geteuid() == 0:
        remount = f'mount --bind {data} {data} && mount -o remount,bind,ro {data} && exec "$@"'
        wrap = ["unshare", "-m", "sh", "-c", remount, "sh"]
    else:  # an ordinary user: permissions do stop the write
        data.chmod(0o500)
        wrap = []
    t0 = time.monotonic()
    try:
        done = serve(
            data, "--port", str(free_port()), "--workers", "2", wrap=wrap,
            env={"CAIRN_ACCESS_KEY": ACCESS_KEY, "CAIRN_SECRET_KEY": SECRET_KEY},
        )  # fmt: skip
    finally:
        data.chmod(0o700)
    assert done.returncode == Exit.NOT_WRITABLE, done.stderr + done.stdout
    assert "cannot be written" in done.stderr and "read-only" in done.stderr
    assert "restarting" not in done.stdout + done.stderr
    assert time.monotonic() - t0 < 30
    assert sorted(p.name for p in data.iterdir()) == before


def test_serve_with_your_own_certificate(tmp_path: Path) -> None:
    made = subprocess.run(
        [sys.executable, "-m", "cairn.cli", "admin", "ca", "init", "--dir", str(tmp_path / "ca")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    issued = subprocess.run(
        [sys.executable, "-m", "cairn.cli", "admin", "ca", "issue", "--dir", str(tmp_path / "ca"),
         "--name", "s3", "--san", "127.0.0.1", "--san", "localhost"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert issued.returncode == 0, issued.stderr
    cert, key, ca = (tmp_path / "ca" / n for n in ("s3.pem", "s3.key", "ca.pem"))
    srv = CairnServer(
        tmp_path / "data", extra_args=["--tls-cert", str(cert), "--tls-key", str(key)]
    )
    srv.tls = True  # https:// endpoint; --tls too, which the own certificate overrides
    srv.start()
    try:
        s3 = boto3.client(
            "s3", endpoint_url=srv.endpoint, aws_access_key_id=srv.access_key,
            aws_secret_access_key=srv.secret_key, region_name="us-east-1", verify=str(ca),
        )  # fmt: skip
        s3.create_bucket(Bucket="tls-own")
        assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["tls-own"]
        assert not (srv.data / "tls").exists(), "a self-signed certificate was made anyway"
    finally:
        srv.stop()


def test_half_a_certificate_is_refused(tmp_path: Path) -> None:
    done = serve(tmp_path / "data", "--port", str(free_port()), "--tls-cert", "/etc/hostname")
    assert done.returncode == Exit.REFUSED and "--tls-cert and --tls-key go together" in done.stderr
    assert not (tmp_path / "data").exists()


def test_a_gateway_whose_etcd_does_not_answer_stops_before_writing(tmp_path: Path) -> None:
    key = tmp_path / "master.key"
    made = subprocess.run(
        [sys.executable, "-m", "cairn.cli", "master-key", "create", str(key)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    done = subprocess.run(
        [sys.executable, "-m", "cairn.cli", "gateway", "--meta", f"etcd://127.0.0.1:{free_port()}",
         "--state", str(tmp_path / "state"), "--port", str(free_port()),
         "--master-key-file", str(key), "--cluster-secret", "s" * 32],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == Exit.META_UNREACHABLE, done.stderr
    assert "accepts connections: is etcd running?" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "state").exists()


@pytest.mark.parametrize("role", ["node", "meta"])
def test_a_node_or_meta_service_on_a_port_in_use_writes_nothing(tmp_path: Path, role: str) -> None:
    where = {"node": ["--data", str(tmp_path / "node")], "meta": ["--meta", f"lmdb:{tmp_path / 'meta'}"]}  # fmt: skip
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "cairn.cli", role, *where[role], "--port", str(port),
             "--cluster-secret", "s" * 32],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert done.returncode == Exit.PORT_IN_USE, done.stderr
    assert f"port 127.0.0.1:{port} is in use" in done.stderr and "Traceback" not in done.stderr
    assert list(tmp_path.iterdir()) == []
