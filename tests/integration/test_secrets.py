"""Secrets discipline of `cairn serve` (issue 14, finding 5): a secret from the
environment is never printed or logged; a generated one is printed once, at the start
that made it; every file and directory Cairn creates is its user's alone as created."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from botocore.exceptions import ClientError

from tests.conftest import make_client
from tests.server import CairnServer, free_port

REPO = Path(__file__).resolve().parents[2]


def _exercise(srv: CairnServer) -> None:
    """Requests that succeed and that fail authentication (which must not log secrets)."""
    s3 = make_client(srv)
    s3.create_bucket(Bucket="secrets")
    s3.put_object(Bucket="secrets", Key="k", Body=b"x" * 100_000)
    srv_wrong = CairnServer(srv.data, tls=srv.tls, port=srv.port, secret_key="wrong-secret-0123")
    try:
        make_client(srv_wrong).get_object(Bucket="secrets", Key="k")
    except ClientError as exc:
        assert exc.response["Error"]["Code"] == "SignatureDoesNotMatch"


def test_secret_from_the_environment_is_never_printed_or_logged(tmp_path: Path) -> None:
    srv = CairnServer(tmp_path / "data", tls=True, extra_args=["--log-level", "debug"])
    srv.start()
    try:
        _exercise(srv)
    finally:
        srv.stop()
    log = srv.log_path.read_bytes()
    assert srv.access_key.encode() in log  # the key id is shown, so the log is the output
    assert srv.secret_key.encode() not in log
    for path in (tmp_path / "data").rglob("*"):
        if path.is_file():
            assert srv.secret_key.encode() not in path.read_bytes(), path


def test_generated_secret_is_printed_once_then_only_its_key_id(tmp_path: Path) -> None:
    srv = CairnServer(tmp_path / "data", env={"CAIRN_ACCESS_KEY": "", "CAIRN_SECRET_KEY": ""})
    srv.start()
    srv.stop()
    creds = json.loads((tmp_path / "data" / "credentials.json").read_text())
    srv.access_key, srv.secret_key = creds["access_key"], creds["secret_key"]
    srv.start()
    try:
        make_client(srv).list_buckets()  # the generated pair is the one in force
    finally:
        srv.stop()
    log = srv.log_path.read_text()
    assert log.count(creds["secret_key"]) == 1
    # The key id in each start's banner (the access log names it too, on its own lines).
    assert log.count(f"access key: {creds['access_key']}") == 2


def test_files_are_created_private(tmp_path: Path) -> None:
    """LMDB data and lock files (metadata with key secrets, blocks), credentials.json,
    the TLS key and the metrics files: no group or other bits, files and directories."""
    data = tmp_path / "data"
    srv = CairnServer(
        data,
        tls=True,
        nodes=2,
        env={"CAIRN_ACCESS_KEY": "", "CAIRN_SECRET_KEY": ""},
        extra_args=["--metrics-port", str(free_port())],
    )
    srv.start()
    srv.stop()
    made = sorted(data.rglob("*"))
    names = {p.relative_to(data).as_posix() for p in made}
    for expected in ("credentials.json", "tls/key.pem", "meta/data.mdb", "meta/lock.mdb"):
        assert expected in names, sorted(names)
    assert any(n.startswith("blocks/node-1/") for n in names)
    loose = [
        f"{p.relative_to(data)} {stat.filemode(p.stat().st_mode)}"
        for p in [data, *made]
        if p.stat().st_mode & 0o077
    ]
    assert loose == []


def test_no_file_is_written_then_chmod_ed() -> None:
    """Modes come from the umask and os.open at creation, never from a later chmod, when
    the file could already have been opened by someone else."""
    sources = [
        p for pkg in ("cairn", "gateway", "meta", "blockstore") for p in (REPO / pkg).rglob("*.py")
    ]
    offenders = [str(p.relative_to(REPO)) for p in sources if "chmod(" in p.read_text()]
    assert offenders == []
