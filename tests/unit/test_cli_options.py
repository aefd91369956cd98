"""Options that must reach the process they configure (not only parse)."""

from __future__ import annotations

import pytest

from cairn import meta_service
from cairn.cli import build_parser


class _Opened(Exception):
    pass


def test_meta_service_opens_lmdb_with_the_map_size_it_was_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: dict[str, object] = {}

    def open_kv(spec: str, *, lmdb_map_size: int | None = None) -> None:
        seen.update(spec=spec, map_size=lmdb_map_size)
        raise _Opened

    monkeypatch.setattr(meta_service, "open_kv", open_kv)
    args = build_parser().parse_args(
        ["meta", "--meta", "lmdb:/nowhere", "--meta-map-size", "3MiB", "--cluster-secret", "s"]
    )
    with pytest.raises(_Opened):
        meta_service.run_meta(args)
    assert seen == {"spec": "lmdb:/nowhere", "map_size": 3 << 20}


@pytest.mark.parametrize("command", ["serve", "gateway", "meta"])
def test_meta_map_size_defaults_to_64_gib_and_refuses_nonsense(command: str) -> None:
    parser = build_parser()
    base = {
        "serve": ["serve"],
        "gateway": ["gateway", "--meta", "lmdb:x"],
        "meta": ["meta", "--meta", "lmdb:x"],
    }[command]
    assert parser.parse_args(base).meta_map_size == 64 << 30
    with pytest.raises(SystemExit):
        parser.parse_args([*base, "--meta-map-size", "lots"])
