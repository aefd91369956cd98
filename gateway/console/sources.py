"""What the console reads besides S3: given to it by the composition root (cairn/), so
that the console itself never opens storage.

Bucket sizes come from the per-bucket usage counters (kept by every commit, never
counted on a request); the cluster view from the node registry, the layout and the
housekeeping records; request rates from this gateway's metrics registry.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

UsageReader = Callable[[str], Awaitable[tuple[int, int] | None]]
"""(objects, bytes) of a bucket from its usage counters; None: not counted yet."""

ClusterReader = Callable[[], Awaitable[dict[str, Any]]]
"""A JSON-able snapshot: {"mode", "nodes": [...], "layout": {...}, "jobs": [...]}."""

AdminCheck = Callable[[str], Awaitable[bool]]
"""Whether an access key (already proven by a signed S3 request) may see the cluster."""

RequestTotals = Callable[[], tuple[float, float, float]]
"""Requests answered so far by this gateway: (all, 4xx, 5xx), cumulative."""


@dataclass
class ConsoleSources:
    usage: UsageReader
    cluster: ClusterReader
    is_admin: AdminCheck
    request_totals: RequestTotals | None = None
