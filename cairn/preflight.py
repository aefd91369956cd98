"""What a server checks before it writes a single file: its directories can be written,
its ports are free, its metadata answers.

`cairn serve` used to write credentials.json and master.key and then fail on a port in
use, or fork workers that failed on a read-only directory and were restarted for ever.
Each check here fails with one line naming what is wrong and an exit status of its own
(cairn/exits.py), and the listening socket it binds is the one the server then serves on,
so no other process can take the port in between.
"""

from __future__ import annotations

import errno
import os
import socket
from pathlib import Path
from urllib.parse import urlsplit

from cairn.exits import CairnExit, Exit

PROBE_S = 3.0  # seconds to wait for a metadata endpoint to accept a connection


def _nearest_existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def writable(path: Path, what: str) -> None:
    """`path` (a directory, made later if absent) and what it already holds can be written."""
    existing = _nearest_existing(path)
    if not existing.is_dir():
        raise CairnExit(Exit.NOT_WRITABLE, f"{what} {path}: {existing} is not a directory")
    for item in [existing, *(p for p in _contents(path) if p.exists())]:
        if not os.access(item, os.W_OK):
            raise CairnExit(
                Exit.NOT_WRITABLE,
                f"{what} {path} cannot be written ({item}: read-only file system or "
                "permissions); nothing was started",
            )


def _contents(data: Path) -> list[Path]:
    """What a `cairn serve` data directory holds that the server writes to."""
    if not data.is_dir():
        return []
    found = [data / "meta", data / "meta" / "data.mdb", data / "blocks"]
    found += list((data / "blocks").glob("node-*")) if (data / "blocks").is_dir() else []
    found += [d / "data.mdb" for d in found if d.name.startswith("node-")]
    return found


def listen(host: str, port: int, what: str, option: str) -> socket.socket:
    """The bound listening socket, or one line saying which port is taken."""
    from gateway.workers import bind  # here: `cairn node` and `cairn meta` load no gateway

    try:
        return bind(host, port)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            why = "is in use by another process"
        else:
            why = f"cannot be listened on ({exc.strerror or exc})"
        raise CairnExit(
            Exit.PORT_IN_USE, f"{what} port {host}:{port} {why}: choose another with {option}"
        ) from None


def port_free(host: str, port: int, what: str, option: str) -> None:
    """A port a later step binds (metrics, a node, a meta service): free now, said before
    anything is written."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            why = (
                "is in use by another process"
                if exc.errno == errno.EADDRINUSE
                else (f"cannot be listened on ({exc.strerror or exc})")
            )
            raise CairnExit(
                Exit.PORT_IN_USE, f"{what} port {host}:{port} {why}: choose another with {option}"
            ) from None


def metadata_reachable(spec: str) -> None:
    """lmdb:DIR writable, or at least one etcd endpoint accepting connections."""
    if spec.startswith("lmdb:"):
        writable(Path(spec[len("lmdb:") :]), "metadata directory")
        return
    if not spec.startswith("etcd://"):
        raise CairnExit(Exit.REFUSED, f"unknown metadata store {spec!r}: use lmdb:DIR or etcd://")
    endpoints = urlsplit(spec).netloc.split(",")
    for endpoint in endpoints:
        host, _, port = endpoint.strip().rpartition(":")
        try:
            socket.create_connection((host, int(port)), timeout=PROBE_S).close()
            return
        except (OSError, ValueError):
            continue
    raise CairnExit(
        Exit.META_UNREACHABLE,
        f"no etcd endpoint of {','.join(endpoints)} accepts connections: is etcd running?",
    )
