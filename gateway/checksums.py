"""Flexible checksums (x-amz-checksum-*): the algorithms, their wire form, and multipart maths.

Request path step: body integrity. ``gateway.auth.body.BodyReader`` feeds every decoded
payload byte to the hashers here and compares the result with what the client declared
(header or aws-chunked trailer); the multipart layer later uses ``combine_composite`` and
``combine_full_object`` to build the whole-object checksum from per-part values.

Wire form, as AWS and botocore produce it: base64 of the big-endian digest (4 bytes for
CRC32/CRC32C, 8 for CRC64NVME, 20 for SHA1, 32 for SHA256). All CRC maths comes from
libraries (ISA-L's crc32, crc32c, awscrt); nothing here loops over bytes in Python.

CRC32 is what the aws cli and boto3 send by default, so it runs over nearly every uploaded
byte: ISA-L's (python-isal; carry-less multiply) costs 0.09 s per GB here, zlib's 0.32 and
awscrt's 0.44.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Callable, Iterable, Mapping, Sequence

import crc32c as _crc32c
from awscrt import checksums as _crt
from isal import isal_zlib

from gateway.errors import BadDigest, InvalidRequest

Buffer = bytes | bytearray | memoryview


class Checksum:
    """One running checksum. Subclasses set ``name``/``digest_size`` and implement update/digest."""

    name: str = ""
    digest_size: int = 0

    @property
    def header(self) -> str:
        return "x-amz-checksum-" + self.name.lower()

    def update(self, data: Buffer) -> None:
        raise NotImplementedError

    def digest(self) -> bytes:
        raise NotImplementedError

    def digest_b64(self) -> str:
        return base64.b64encode(self.digest()).decode("ascii")


class _Crc(Checksum):
    # The library functions all take (data, previous) and return the new int register.
    _fn: Callable[[Buffer, int], int]

    def __init__(self) -> None:
        self._value = 0

    def update(self, data: Buffer) -> None:
        self._value = type(self)._fn(data, self._value)

    def digest(self) -> bytes:
        return self._value.to_bytes(self.digest_size, "big")


class Crc32(_Crc):
    name = "CRC32"
    digest_size = 4
    _fn = staticmethod(isal_zlib.crc32)  # type: ignore[assignment]


class Crc32c(_Crc):
    name = "CRC32C"
    digest_size = 4
    _fn = staticmethod(_crc32c.crc32c)  # type: ignore[assignment]


class Crc64Nvme(_Crc):
    name = "CRC64NVME"
    digest_size = 8
    _fn = staticmethod(_crt.crc64nvme)  # type: ignore[assignment]


class _Hash(Checksum):
    _factory: Callable[[], hashlib._Hash]

    def __init__(self) -> None:
        self._h = type(self)._factory()

    def update(self, data: Buffer) -> None:
        self._h.update(data)

    def digest(self) -> bytes:
        return self._h.digest()


class Sha1(_Hash):
    name = "SHA1"
    digest_size = 20
    _factory = staticmethod(hashlib.sha1)  # type: ignore[assignment]


class Sha256(_Hash):
    name = "SHA256"
    digest_size = 32
    _factory = staticmethod(hashlib.sha256)  # type: ignore[assignment]


# Registry: by AWS algorithm name ("CRC32", as in x-amz-sdk-checksum-algorithm and
# ChecksumAlgorithm) and by lower-case header name ("x-amz-checksum-crc32").
ALGORITHMS: dict[str, type[Checksum]] = {
    cls.name: cls for cls in (Crc32, Crc32c, Crc64Nvme, Sha1, Sha256)
}
BY_HEADER: dict[str, type[Checksum]] = {
    "x-amz-checksum-" + name.lower(): cls for name, cls in ALGORITHMS.items()
}
# AWS: CRC64NVME is FULL_OBJECT only, SHA* are COMPOSITE only, CRC32/CRC32C do both.
FULL_OBJECT_ALGORITHMS = frozenset({"CRC32", "CRC32C", "CRC64NVME"})
COMPOSITE_ALGORITHMS = frozenset({"CRC32", "CRC32C", "SHA1", "SHA256"})

_COMBINE: dict[str, Callable[[int, int, int], int]] = {
    "CRC32": _crt.combine_crc32,
    "CRC32C": _crt.combine_crc32c,
    "CRC64NVME": _crt.combine_crc64nvme,
}


def algorithm(name: str) -> type[Checksum]:
    """The class for an algorithm name as clients send it (case-insensitive)."""
    cls = ALGORITHMS.get(name.strip().upper())
    if cls is None:
        raise InvalidRequest(f"Checksum algorithm {name!r} is not supported.")
    return cls


def new(name: str) -> Checksum:
    return algorithm(name)()


def decode_value(name: str, value: str, *, header: str | None = None) -> bytes:
    """Parse a client-declared checksum (header or trailer) to raw digest bytes.

    Anything that is not canonical base64 of exactly the digest length is the AWS
    ``InvalidRequest: Value for x-amz-checksum-crc32 header is invalid.``
    """
    cls = algorithm(name)
    header = header or "x-amz-checksum-" + cls.name.lower()
    try:
        raw = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != cls.digest_size:
        raise InvalidRequest(f"Value for {header} header is invalid.")
    return raw


def verify(name: str, expected: bytes, actual: bytes) -> None:
    """Raise BadDigest unless the computed digest equals what the client declared."""
    if not hmac.compare_digest(expected, actual):
        raise BadDigest(
            f"The {algorithm(name).name} you specified did not match the calculated checksum."
        )


def of(name: str, data: Buffer) -> str:
    """One-shot checksum of a buffer, in wire form (tests, small payloads)."""
    c = new(name)
    c.update(data)
    return c.digest_b64()


def combine_composite(name: str, part_checksums: Sequence[str]) -> str:
    """COMPOSITE multipart checksum: checksum of the concatenated raw part digests, "-N".

    ``part_checksums`` are the parts' wire-form (base64) values in part order.
    """
    c = new(name)
    for value in part_checksums:
        c.update(decode_value(name, value))
    return f"{c.digest_b64()}-{len(part_checksums)}"


def combine_full_object(name: str, parts: Iterable[tuple[str, int]]) -> str:
    """FULL_OBJECT multipart checksum: the CRC of the whole object from the parts' CRCs.

    ``parts`` are (wire-form checksum, part length in bytes) in part order. Only the CRC
    family can do this (CRCs are linear, so awscrt combines them without the data).
    """
    cls = algorithm(name)
    combine = _COMBINE.get(cls.name)
    if combine is None:
        raise InvalidRequest(f"The {cls.name} algorithm does not support the FULL_OBJECT type.")
    crc = 0
    first = True
    for value, length in parts:
        part_crc = int.from_bytes(decode_value(cls.name, value), "big")
        # The CRC of the empty string is 0, and combine(x, crc, n) needs no special case
        # for the first part except that there is nothing to combine with yet.
        crc = part_crc if first else combine(crc, part_crc, length)
        first = False
    return base64.b64encode(crc.to_bytes(cls.digest_size, "big")).decode("ascii")


def declared_object_checksum(headers: Mapping[str, str]) -> tuple[str, str] | None:
    """The (algorithm, value) a CompleteMultipartUpload declares for the whole object
    with an x-amz-checksum-* header, or None. There it is not the request body's
    checksum: a COMPOSITE value carries its "-N" part count."""
    found = [(cls.name, headers[h]) for h, cls in BY_HEADER.items() if h in headers]
    if len(found) > 1:
        raise InvalidRequest(
            "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed."
        )
    return found[0] if found else None


def verify_object_checksum(
    declared: tuple[str, str], computed: Mapping[str, str], upload_algorithm: str | None
) -> None:
    """Compare a Complete's declared whole-object checksum with the one made from the
    parts. Another algorithm than the upload's is InvalidRequest (AWS: "Checksum Type
    mismatch"); a value that differs (with or without the "-N" suffix) is BadDigest."""
    name, value = declared
    if upload_algorithm != name:
        expected = upload_algorithm.lower() if upload_algorithm else "null"
        raise InvalidRequest(
            f"Checksum Type mismatch occurred, expected checksum Type: {expected}, "
            f"actual checksum Type: {name.lower()}"
        )
    ours = computed.get(name)
    if ours is None or value.strip().split("-")[0] != ours.split("-")[0]:
        raise BadDigest(f"The {name} you specified did not match the calculated checksum.")


def pack_part_checksums(name: str, values: Sequence[str]) -> bytes:
    """The parts' wire-form checksums as one blob of raw digests (what a multipart
    object's head keeps: a quarter less than base64, fixed width so a part is a slice)."""
    return b"".join(decode_value(name, v) for v in values)


def part_checksum(name: str, packed: bytes, number: int) -> str | None:
    """Part ``number``'s (1-based) wire-form checksum out of a packed blob, or None when
    the blob holds none for it."""
    size = algorithm(name).digest_size
    raw = packed[(number - 1) * size : number * size]
    if number < 1 or len(raw) != size:
        return None
    return base64.b64encode(raw).decode("ascii")


def of_part(object_checksums: Mapping[str, str], packed: bytes, number: int) -> dict[str, str]:
    """Part ``number``'s checksums by algorithm, for the algorithms of the object's
    ``object_checksums`` whose part digests ``packed`` holds; {} when none is kept."""
    found = {alg: part_checksum(alg, packed, number) for alg in object_checksums}
    return {alg: value for alg, value in found.items() if value is not None}
