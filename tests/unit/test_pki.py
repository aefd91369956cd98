"""The cluster CA (cairn/pki.py, `cairn admin ca`): certificates that chain to it, and private
keys that are 0600 from the moment the file exists (issue 14, finding 5: key files were
written first and chmod'ed afterwards)."""

from __future__ import annotations

import ipaddress
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from blockstore import auth
from cairn import pki


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_keys_are_0600_without_a_chmod_even_under_a_permissive_umask(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_chmod(*args: object, **kwargs: object) -> None:
        raise AssertionError("a key file was chmod'ed after it was written")

    monkeypatch.setattr(os, "chmod", no_chmod)
    monkeypatch.setattr(Path, "chmod", no_chmod)
    old = os.umask(0)
    try:
        pki.init_ca(tmp_path / "ca")
        issued = pki.issue(tmp_path / "ca", "node-0", ["127.0.0.1", "node-0"])
    finally:
        os.umask(old)
    assert _mode(tmp_path / "ca" / "ca.key") == 0o600
    assert _mode(issued.key) == 0o600
    assert _mode(tmp_path / "ca") == 0o700
    assert not list((tmp_path / "ca").glob(".*.tmp"))


def test_issued_certificates_chain_to_the_ca_with_their_names(tmp_path: Path) -> None:
    ca_pem = pki.init_ca(tmp_path)
    assert pki.init_ca(tmp_path).read_bytes() == ca_pem.read_bytes()  # kept, not replaced
    ca = x509.load_pem_x509_certificate(ca_pem.read_bytes())
    server = pki.issue(tmp_path, "node-0", ["127.0.0.1", "node-0.example"])
    client = pki.issue(tmp_path, "gw", [], client=True)
    s = x509.load_pem_x509_certificate(server.cert.read_bytes())
    c = x509.load_pem_x509_certificate(client.cert.read_bytes())
    for cert in (s, c):
        cert.verify_directly_issued_by(ca)
    san = s.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    assert san.get_values_for_type(x509.DNSName) == ["node-0.example"]
    usage = c.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.CLIENT_AUTH]


def test_admin_ca_commands_run_as_documented(tmp_path: Path) -> None:
    d = tmp_path / "pki"

    def cairn(*args: str, **env: str) -> str:
        out = subprocess.run(
            [sys.executable, "-m", "cairn.cli", "admin", "ca", *args],
            capture_output=True, text=True, check=True, timeout=60,
            env={**os.environ, **env},
        )  # fmt: skip
        return out.stdout

    cairn("init", "--dir", str(d))
    cairn("issue", "--dir", str(d), "--name", "node-0", "--san", "127.0.0.1", "--san", "node-0")
    cairn("issue", "--dir", str(d), "--name", "gateway", "--client")
    secret = "s3cr3t-cluster"
    printed = cairn(
        "node-key", "--url", "https://node-0:9100", "--out", str(tmp_path / "node-key"),
        CAIRN_CLUSTER_SECRET=secret,
    )  # fmt: skip
    assert secret not in printed
    for name in ("ca.key", "node-0.key", "gateway.key"):
        assert _mode(d / name) == 0o600
    key = (tmp_path / "node-key").read_text()
    assert bytes.fromhex(key) == auth.node_key(secret, "node-0:9100")
    assert _mode(tmp_path / "node-key") == 0o600
