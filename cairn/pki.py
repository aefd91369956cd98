"""The cluster CA: certificates for TLS on the internal links (`cairn admin ca`).

One CA per cluster signs a server certificate for each storage node (and etcd member), with
the node's IP addresses and host names as subject alternative names, and a client
certificate for each gateway and meta service (and each etcd client). Nodes and etcd accept
only clients whose certificate the CA signed; gateways accept only nodes whose certificate
it signed, so a machine that merely reaches the network can neither serve nor ask.

Keys are ECDSA P-256 (fast handshakes) and every private key is written to a file created
0600 (``os.open`` with the mode, then renamed into place), never chmod'ed afterwards.
"""

from __future__ import annotations

import argparse
import datetime
import ipaddress
import json
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_DAYS = 3650
LEAF_DAYS = 825


@dataclass(frozen=True)
class Issued:
    """The files of one certificate: what a role is given."""

    cert: Path
    key: Path
    ca: Path


def write_private(path: Path, data: bytes) -> None:
    """Write a secret to a file that is 0600 from its first byte: a new temporary file
    made with that mode, renamed over the old one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Cairn cluster"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _private_dir(directory: Path) -> Path:
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    return directory


def init_ca(directory: Path) -> Path:
    """Create DIR/ca.pem and DIR/ca.key (kept if they exist: re-running is harmless)."""
    d = _private_dir(directory)
    cert_path, key_path = d / "ca.pem", d / "ca.key"
    if cert_path.exists() and key_path.exists():
        return cert_path
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    name = _name("Cairn cluster CA")
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )  # fmt: skip
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())
    )
    write_private(key_path, _key_pem(key))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path


def self_signed(directory: Path, names: list[str]) -> tuple[Path, Path]:
    """DIR/cert.pem and DIR/key.pem: a self-signed server certificate for ``names`` (for
    `cairn serve --tls`), made once and kept; a key without its certificate is made anew."""
    d = _private_dir(directory)
    cert_path, key_path = d / "cert.pem", d / "key.pem"
    if cert_path.exists() and key_path.exists():
        return cert_path, key_path
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cairn")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(_san(list(dict.fromkeys(names))), critical=False)
        .sign(key, hashes.SHA256())
    )
    write_private(key_path, _key_pem(key))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


def _san(names: list[str]) -> x509.SubjectAlternativeName:
    entries: list[x509.GeneralName] = []
    for n in names:
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(n)))
        except ValueError:
            entries.append(x509.DNSName(n))
    return x509.SubjectAlternativeName(entries)


def issue(
    directory: Path, name: str, sans: list[str], *, client: bool = False, out: Path | None = None
) -> Issued:
    """A certificate for ``name`` signed by the CA in ``directory``: a server certificate
    for ``sans`` (also usable as a client one, as etcd members need), or a client one.
    Written beside the CA, or into ``out`` with a copy of ca.pem: the directory one role
    is given (compose mounts each role's own)."""
    d = _private_dir(directory)
    ca_key = serialization.load_pem_private_key((d / "ca.key").read_bytes(), None)
    ca_cert = x509.load_pem_x509_certificate((d / "ca.pem").read_bytes())
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    usages = [ExtendedKeyUsageOID.CLIENT_AUTH]
    if not client:
        usages.insert(0, ExtendedKeyUsageOID.SERVER_AUTH)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(name))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=LEAF_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
    )
    if sans:
        builder = builder.add_extension(_san(sans), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    dest = _private_dir(out) if out is not None else d
    issued = Issued(dest / f"{name}.pem", dest / f"{name}.key", dest / "ca.pem")
    if dest != d:
        issued.ca.write_bytes((d / "ca.pem").read_bytes())
    write_private(issued.key, _key_pem(key))
    issued.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return issued


def ca_command(args: argparse.Namespace) -> int:
    """`cairn admin ca ...` (cairn/cli.py): text, or with --json one JSON object of paths."""
    directory = Path(args.dir).resolve() if hasattr(args, "dir") else Path()
    made: dict[str, str]
    if args.ca_command == "init":
        cert = init_ca(directory)
        made, text = {"ca": str(cert)}, f"CA certificate: {cert} (key beside it, 0600)"
    elif args.ca_command == "issue":
        out = Path(args.out).resolve() if args.out else None
        got = issue(directory, args.name, args.san, client=args.client, out=out)
        made = {"cert": str(got.cert), "key": str(got.key)}
        text = f"certificate: {got.cert}\nkey:         {got.key} (0600)"
    else:  # node-key
        from blockstore import auth

        secret = args.cluster_secret or os.environ.get("CAIRN_CLUSTER_SECRET")
        if not secret:
            raise SystemExit("cairn admin ca node-key: --cluster-secret or CAIRN_CLUSTER_SECRET")
        key = auth.node_key(secret, auth.address_of(args.url))
        write_private(Path(args.out), key.hex().encode())
        made = {"node": auth.address_of(args.url), "key_file": str(args.out)}
        text = f"node key for {made['node']}: {args.out} (0600)"
    wants_json = getattr(args, "json", False) or getattr(args, "json_all", False)
    print(json.dumps(made, indent=2, sort_keys=True) if wants_json else text)
    return 0
