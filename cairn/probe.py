"""`python -m cairn.probe URL`: exit 0 when URL answers 200, else 1 (with why).

For container healthchecks (compose.yaml), which have no curl in a slim image:

    python -m cairn.probe http://127.0.0.1:9000/_cairn/health/ready
    python -m cairn.probe https://127.0.0.1:9100/_cairn/health/ready \\
        --ca /pki/ca.pem --cert /pki/node-0.pem --key /pki/node-0.key

A node serving TLS with --tls-ca accepts only clients with a certificate from the
cluster CA, so the probe shows one (the node's own; the host name is not checked, since
the probe dials 127.0.0.1).
"""

from __future__ import annotations

import argparse
import ssl
import sys
import urllib.error
import urllib.request


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m cairn.probe", description=__doc__.split("\n")[0])
    p.add_argument("url")
    p.add_argument("--ca", help="CA certificate (PEM) to trust")
    p.add_argument("--cert", help="client certificate (PEM)")
    p.add_argument("--key", help="its private key (PEM)")
    p.add_argument("--timeout", type=float, default=3.0, help="seconds (default %(default)s)")
    args = p.parse_args(argv)
    context = None
    if args.url.startswith("https:"):
        context = ssl.create_default_context(cafile=args.ca)
        context.check_hostname = False
        if args.cert:
            context.load_cert_chain(args.cert, args.key)
    try:
        with urllib.request.urlopen(args.url, timeout=args.timeout, context=context) as r:
            return 0 if r.status == 200 else 1
    except urllib.error.HTTPError as exc:
        print(
            f"{args.url}: {exc.code} {exc.read()[:200].decode(errors='replace')}", file=sys.stderr
        )
    except OSError as exc:
        print(f"{args.url}: {exc}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
