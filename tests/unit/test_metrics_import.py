"""prometheus_client picks its storage (per-process or shared files) when first imported,
so nothing a gateway loads before `--metrics-port` sets the shared directory may import
it: otherwise every worker counts into its own memory and the metrics port shows none
of them (as happened when the node's metrics module was imported by the block client)."""

from __future__ import annotations

import subprocess
import sys


def test_gateway_modules_do_not_import_prometheus_client() -> None:
    code = (
        "import sys, cairn.cli, cairn.serve, cairn.launcher, blockstore.client, "
        "blockstore.cluster.membership, gateway.app;"
        "print('prometheus_client' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
