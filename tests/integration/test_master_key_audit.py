"""`cairn master-key create|rotate` and the audit trail, against a real `cairn serve`'s
metadata: with --data or --meta the change is one entry (the OS user, the command, the
new key's id, never key bytes), read back with `python -m cairn.audit`; without them only
the file changes; metadata that cannot be written refuses the command before the file
changes."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

from meta.sealing import load_master_key
from tests.server import CairnServer


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cairn.cli", *args], capture_output=True, text=True, timeout=60
    )


def trail(meta: str) -> list[dict[str, str]]:
    done = subprocess.run(
        [sys.executable, "-m", "cairn.audit", "--meta", meta],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return [json.loads(line) for line in done.stdout.splitlines()]


def key_bytes_in(path: Path, text: str) -> bool:
    keys = load_master_key(path).keys
    return any(base64.b64encode(k).decode() in text or k.hex() in text for _, k in keys)


def test_create_and_rotate_are_audited_when_the_metadata_is_named(tmp_path: Path) -> None:
    srv = CairnServer(tmp_path / "data").start()
    meta = f"lmdb:{srv.data / 'meta'}"
    try:
        keyfile = srv.data / "master.key"
        done = cli("master-key", "rotate", str(keyfile), "--data", str(srv.data))
        assert done.returncode == 0, done.stderr
        rotated = load_master_key(keyfile).key_id
        spare = tmp_path / "spare.key"
        done = cli("master-key", "create", str(spare), "--meta", meta)
        assert done.returncode == 0, done.stderr

        entries = trail(meta)
        assert [(e["action"], e["target"]) for e in entries] == [
            ("master-key rotate", f"key_id={rotated}"),
            ("master-key create", f"key_id={load_master_key(spare).key_id}"),
        ]
        assert all("@" in e["who"] for e in entries)
        printed = json.dumps(entries)
        assert not key_bytes_in(keyfile, printed) and not key_bytes_in(spare, printed)

        unnamed = cli("master-key", "rotate", str(spare))
        assert unnamed.returncode == 0, unnamed.stderr
        assert len(trail(meta)) == 2, "without --meta/--data only the file changes"
    finally:
        srv.stop()


def test_a_trail_that_cannot_be_written_leaves_the_file_alone(tmp_path: Path) -> None:
    keyfile = tmp_path / "master.key"
    assert cli("master-key", "create", str(keyfile)).returncode == 0
    before = keyfile.read_bytes()
    for where in (("--meta", f"lmdb:{tmp_path / 'nowhere'}"), ("--data", str(tmp_path))):
        done = cli("master-key", "rotate", str(keyfile), *where)
        assert done.returncode != 0
        assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
        assert keyfile.read_bytes() == before
    assert not (tmp_path / "nowhere").exists(), "no metadata was created"
    made = tmp_path / "new.key"
    assert cli("master-key", "create", str(made), "--meta", "etcd://nohost").returncode != 0
    assert not made.exists()
