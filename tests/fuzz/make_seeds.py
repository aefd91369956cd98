"""Write the seed corpora in tests/fuzz/corpus/<target>/ (run once; the output is committed).

    python -m tests.fuzz.make_seeds

Seeds are what clients really send: request heads signed by botocore (SigV4 header and
presigned, SigV2 header and presigned, at the harnesses' fixed clock), aws-chunked bodies
built by tests/s3sign.py, and the XML bodies of AWS's API reference examples.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from urllib.parse import urlsplit

from tests import s3sign
from tests.fuzz import _clients as clients

CORPUS = Path(__file__).parent / "corpus"

URLS = [
    ("GET", f"{clients.ENDPOINT}/"),
    ("PUT", f"{clients.ENDPOINT}/fuzz-bucket"),
    ("GET", f"{clients.ENDPOINT}/fuzz-bucket?list-type=2&prefix=a%2Fb&max-keys=10"),
    ("GET", f"{clients.ENDPOINT}/fuzz-bucket/dir/key%20with%20space.txt"),
    ("PUT", f"{clients.ENDPOINT}/fuzz-bucket/obj?partNumber=2&uploadId=abc123"),
    ("POST", f"{clients.ENDPOINT}/fuzz-bucket?delete"),
    ("DELETE", f"{clients.ENDPOINT}/fuzz-bucket/%C3%A9t%C3%A9"),
]
HEADERS = {"x-amz-meta-color": "blue", "Content-Type": "text/plain"}

XML = {
    "complete": b"""<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Part><ETag>"a54357aff0632cce46d942af68356b38"</ETag><PartNumber>1</PartNumber></Part>
  <Part><ChecksumCRC32>AAAAAA==</ChecksumCRC32><ETag>"0c78aef83f66abc1fa1e8477f296d394"</ETag>
  <PartNumber>2</PartNumber></Part>
</CompleteMultipartUpload>""",
    "delete": b"""<?xml version="1.0" encoding="UTF-8"?>
<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Quiet>true</Quiet>
  <Object><Key>sample1.txt</Key></Object>
  <Object><Key>sample2.txt</Key><VersionId>OYcLXagmS.WaD..oyH4KRguB95_YhLs7</VersionId></Object>
  <Object><Key> </Key></Object>
</Delete>""",
    "bucket": b"""<CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <LocationConstraint>eu-west-1</LocationConstraint>
</CreateBucketConfiguration>""",
}

# Range and conditional header lines (see fuzz_headers: one header per line).
HEADER_SEEDS = {
    "range": b'range: bytes=0-99\r\nif-match: "5d41402abc4b2a76b9719d911017c592"\r\n',
    "suffix": b'range: bytes=-500\r\nif-none-match: W/"x", *\r\n',
    "open": b"range: bytes=9500-\r\nif-modified-since: Sun, 06 Nov 1994 08:49:37 GMT\r\n",
    "copy": (
        b"x-amz-copy-source: /src-bucket/a%20key?versionId=null\r\n"
        b"x-amz-copy-source-range: bytes=0-5242879\r\n"
        b"x-amz-copy-source-if-unmodified-since: Tue, 15 Nov 1994 12:45:26 GMT\r\n"
    ),
    "put": b"if-none-match: *\r\nx-amz-checksum-crc32: AAAAAA==\r\n",
    "body": (
        b"content-length: 1024\r\nx-amz-decoded-content-length: 1000\r\n"
        b"x-amz-trailer: x-amz-checksum-crc32c\r\nx-amz-sdk-checksum-algorithm: CRC32C\r\n"
        b"x-amz-checksum-type: FULL_OBJECT\r\ncontent-md5: 1B2M2Y8AsgTpgAmY7PhCfg==\r\n"
    ),
}


def _write(target: str, name: str, data: bytes) -> None:
    folder = CORPUS / target
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}-{hashlib.sha1(data).hexdigest()[:8]}").write_bytes(data)


def _auth_seeds() -> None:
    for i, (method, url) in enumerate(URLS):
        signed = clients.sigv4_headers(method, url, HEADERS)
        _write("sigv4", f"header{i}", clients.request_head(method, url, signed))
        presigned = clients.sigv4_presigned(method, url)
        host = {"Host": urlsplit(url).netloc}
        _write("sigv4", f"presigned{i}", clients.request_head(method, presigned, host))
        signed = clients.sigv2_headers(method, url, HEADERS)
        _write("sigv2", f"header{i}", clients.request_head(method, url, signed))
        presigned = clients.sigv2_presigned(method, url, {"x-amz-meta-color": "blue"})
        _write("sigv2", f"presigned{i}", clients.request_head(method, presigned, host))
        _write("routing", f"request{i}", clients.request_head(method, url, host))
    _write("routing", "virtual", b"GET /a/key?uploads HTTP/1.1\r\nHost: b.s3.example.com\r\n\r\n")


def _chunked_seeds() -> None:
    url = f"{clients.ENDPOINT}/fuzz-bucket/obj"
    keys = {"access_key": clients.ACCESS_KEY, "secret_key": clients.SECRET_KEY}
    data = bytes(range(0, 256, 3))
    _, body = s3sign.signed_streaming(url, data, chunk_size=40, now=clients.NOW, **keys)
    _write("chunked", "signed", body)
    _, body = s3sign.signed_streaming(
        url, data, trailer="crc32c", chunk_size=64, now=clients.NOW, **keys
    )
    _write("chunked", "signed-trailer", body)
    _, body = s3sign.unsigned_streaming_trailer(url, data, chunk_size=50, **keys)
    _write("chunked", "unsigned-trailer", body)


def main() -> None:
    _auth_seeds()
    _chunked_seeds()
    for name, body in XML.items():
        _write("xml", name, body)
    for name, lines in HEADER_SEEDS.items():
        _write("headers", name, lines)


if __name__ == "__main__":
    main()
