"""Medians, ratios and the PASS/FAIL targets table, as text (and a dict for --json)."""

from __future__ import annotations

import math
import os
import platform
import statistics
import subprocess
import time
from importlib import metadata
from typing import Any

from benchmarks.scenarios import (
    POLICY_GOAL,
    POLICY_PAIRS,
    PUT_LARGE_CPU_PER_GB,
    ROWS,
    RSS_LIMIT_MIB,
    SSE_GOAL,
    SSE_PAIRS,
    TARGETS,
    VERSIONING_PAIRS,
    Settings,
)

Results = dict[str, dict[str, list[dict[str, Any]]]]


def _median(xs: list[float]) -> float:
    xs = [x for x in xs if isinstance(x, int | float) and not math.isnan(x)]
    return statistics.median(xs) if xs else float("nan")


def _fmt(x: float, digits: int = 3) -> str:
    if math.isnan(x):
        return "-"
    if abs(x) >= 100:
        return f"{x:.0f}"
    return f"{x:.{digits}g}"


def _mib(x: float) -> str:
    """Whole MiB: two significant digits printed 99.7 as "1e+02"."""
    return "-" if math.isnan(x) else f"{x:.0f}"


def _ratio(x: float) -> str:
    return "-" if math.isnan(x) else f"{_fmt(x)}x"


def one_line(row: str, fig: dict[str, Any]) -> str:
    """Progress line for one round."""
    r = ROWS[row]
    extra = (
        f" p50 {_fmt(fig['p50_ms'])} p99 {_fmt(fig['p99_ms'])} ms"
        if fig["p50_ms"] == fig["p50_ms"]
        else ""
    )
    errs = f" ERRORS {fig['errors']}" if fig["errors"] else ""
    return (
        f"{_fmt(fig['value'])} {r.unit}{extra}, server CPU {_fmt(fig['cpu_per'])} s/{r.per}, "
        f"peak RSS {fig['rss_mib']:.0f} MiB, verified {fig['verified']}{errs}"
    )


def ratios(results: Results, row: str, ref: str) -> list[float]:
    """Per-round Cairn/ref ratios of the main figure (rounds paired by index)."""
    a, b = results.get(row, {}).get("cairn", []), results.get(row, {}).get(ref, [])
    out = []
    for x, y in zip(a, b, strict=False):
        if y["value"] and not math.isnan(x["value"]) and not math.isnan(y["value"]):
            out.append(x["value"] / y["value"])
    return out


def _environment() -> dict[str, str]:
    def version(pkg: str) -> str:
        try:
            return metadata.version(pkg)
        except metadata.PackageNotFoundError:
            return "?"

    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10
        ).stdout.strip()
    except OSError:
        head = "?"
    return {
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "git": head,
        "cpus": str(os.cpu_count()),
        "python": platform.python_version(),
        "moto": version("moto"),
        "awscli": version("awscli"),
        "loadavg": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def render(
    results: Results, names: list[str], s: Settings, elapsed: float
) -> tuple[str, dict[str, Any]]:
    env = _environment()
    refs = [n for n in names if n != "cairn"]
    lines = [
        "",
        f"Cairn benchmark {env['date']}, git {env['git']}, {env['cpus']} CPUs, python "
        f"{env['python']}, moto {env['moto']}, awscli {env['awscli']}, load avg at end "
        f"{env['loadavg']}; {s.rounds} rounds ({s.cp_rounds} for cp), {elapsed / 60:.1f} min.",
        "Medians over rounds; ratios are medians of per-round Cairn/ref ratios. Server CPU is "
        "utime+stime of the server process tree; RSS is peak VmHWM (sum over processes).",
        "Server processes (max seen): "
        + ", ".join(
            f"{n} {max((f['procs'] for per in results.values() for f in per.get(n, [])), default=0)}"
            for n in names
        )
        + ".",
        "",
    ]
    head = f"{'scenario':10} {'figure':16}" + "".join(f"{n:>11}" for n in names)
    head += "".join(f"{'cairn/' + r:>13}" for r in refs if "cairn" in names)
    lines += [head, "-" * len(head)]
    medians: dict[str, dict[str, dict[str, float]]] = {}
    for row, spec in ROWS.items():
        if row not in results:
            continue
        per = results[row]
        med = {
            n: {
                k: _median([f.get(k, float("nan")) for f in per.get(n, [])])
                for k in (
                    "value",
                    "p50_ms",
                    "p99_ms",
                    "cpu_per",
                    "rss_mib",
                    "rss_anon_end_mib",
                    "rss_file_end_mib",
                    "client_us",
                )
            }
            for n in names
        }
        medians[row] = med
        rat = {r: _median(ratios(results, row, r)) for r in refs}
        cells = "".join(f"{_fmt(med[n]['value']):>11}" for n in names)
        rcells = "".join(f"{_ratio(rat[r]):>13}" for r in refs if "cairn" in names)
        lines.append(f"{row:10} {spec.unit:16}{cells}{rcells}")
        if not math.isnan(med.get("cairn", med[names[0]])["p50_ms"]):
            cells = "".join(
                f"{_fmt(med[n]['p50_ms']) + '/' + _fmt(med[n]['p99_ms']):>11}" for n in names
            )
            lines.append(f"{'':10} {'p50/p99 ms':16}{cells}")
        cells = "".join(f"{_fmt(med[n]['cpu_per']):>11}" for n in names)
        lines.append(f"{'':10} {'srv CPU s/' + spec.per:16}{cells}")
        cells = "".join(f"{_fmt(med[n]['rss_mib']):>11}" for n in names)
        lines.append(f"{'':10} {'peak RSS MiB':16}{cells}")
        cells = "".join(
            f"{_mib(med[n]['rss_anon_end_mib']) + '/' + _mib(med[n]['rss_file_end_mib']):>11}"
            for n in names
        )
        lines.append(f"{'':10} {'end anon/file':16}{cells}")
        if not row.startswith("cp"):
            cells = "".join(f"{_fmt(med[n]['client_us']):>11}" for n in names)
            lines.append(f"{'':10} {'client CPU us/op':16}{cells}")
        errs = {n: sum(f["errors"] for f in per.get(n, [])) for n in names}
        bad = {n: sum(f["verify_failures"] for f in per.get(n, [])) for n in names}
        checked = {n: sum(f["verified"] for f in per.get(n, [])) for n in names}
        if any(errs.values()) or any(bad.values()):
            lines.append(f"{'':10} errors {errs}, verify failures {bad}")
        lines.append(f"{'':10} {'verified':16}" + "".join(f"{checked[n]:>11}" for n in names))
    checks = _targets(results, medians) if "cairn" in names else []
    if checks:
        lines += ["", f"{'target':34} {'goal':>12} {'measured':>10}  result", "-" * 66]
        for c in checks:
            lines.append(f"{c['check']:34} {c['goal']:>12} {c['measured']:>10}  {c['result']}")
    return "\n".join(lines) + "\n", {"environment": env, "medians": medians, "targets": checks}


def _targets(results: Results, medians: dict[str, Any]) -> list[dict[str, str]]:
    out = []
    for row, ref, kind, goal in TARGETS:
        rs = ratios(results, row, ref)
        if not rs:
            continue
        if kind == "ratio>=":
            m = _median(rs)
            ok, label, shown = m >= goal, f">= {goal:g}x", f"{_fmt(m)}x"
        elif kind == "time<=":
            m = _median(rs)
            ok, label, shown = m <= goal, f"<= {goal:g}x", f"{_fmt(m)}x"
        else:  # speedup>=: ref time / Cairn time
            m = _median([1 / r for r in rs])
            ok, label, shown = m >= goal, f">= {goal:g}x", f"{_fmt(m)}x"
        what = {"time<=": "time vs", "speedup>=": "speedup vs"}.get(kind, "vs")
        out.append(_check(f"{row} {what} {ref}", label, shown, ok))
    for row, per in results.items():
        figs = per.get("cairn", [])
        if figs:
            peak = max(f["rss_mib"] for f in figs)
            out.append(
                _check(
                    f"{row} peak RSS MiB",
                    f"< {RSS_LIMIT_MIB:g}",
                    f"{peak:.0f}",
                    peak < RSS_LIMIT_MIB,
                )
            )
    if "put-large" in medians and "cairn" in medians["put-large"]:
        cpu = medians["put-large"]["cairn"]["cpu_per"]
        out.append(
            _check(
                "put-large server CPU s/GB",
                f"<= {PUT_LARGE_CPU_PER_GB:g}",
                _fmt(cpu),
                cpu <= PUT_LARGE_CPU_PER_GB,
            )
        )
    out += _paired_costs(results, POLICY_PAIRS, POLICY_GOAL)
    out += _paired_costs(results, SSE_PAIRS, SSE_GOAL)
    out += _paired_costs(results, VERSIONING_PAIRS, None)
    return out


def _paired_costs(
    results: Results, pairs: list[tuple[str, str]], goal: float | None
) -> list[dict[str, str]]:
    """Cairn with a feature (a 20-statement bucket policy, SSE-S3, versioning) against Cairn
    without, per round (same server, same round, so the machine's drift cancels): its
    cost. ``goal`` None: the ratio is shown, with no goal (versioning)."""
    out = []
    for row, bare in pairs:
        a, b = results.get(row, {}).get("cairn", []), results.get(bare, {}).get("cairn", [])
        rs = [x["value"] / y["value"] for x, y in zip(a, b, strict=False) if y["value"]]
        rs = [r for r in rs if not math.isnan(r)]
        if not rs:
            continue
        m, name = _median(rs), f"{row} vs {bare} (cairn)"
        if goal is None:
            out.append({"check": name, "goal": "-", "measured": f"{_fmt(m)}x", "result": "-"})
        else:
            out.append(_check(name, f">= {goal:g}x", f"{_fmt(m)}x", m >= goal))
    return out


def _check(check: str, goal: str, measured: str, ok: bool) -> dict[str, str]:
    return {"check": check, "goal": goal, "measured": measured, "result": "PASS" if ok else "FAIL"}
