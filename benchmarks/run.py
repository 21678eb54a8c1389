# SPDX-License-Identifier: Apache-2.0
"""Run the benchmarks: ``python benchmarks/run.py [--quick] [--only SECTION[,SECTION]]``.

Sections: ``overhead`` (per-turn cost vs the bare SDK and vs the seed's Langfuse-SDK filter), ``isolation`` (hook
latency with the collector up / blackholed / down), ``throughput`` (turns/s through the real collector, loss),
``memory`` (bytes per open turn, RSS over 1,000,000 turns), ``server`` (bridge server vs the same app with a no-op
filter), ``metrics`` (the collector's CPU and memory per 1,000 turns/s with the usage metrics on vs off).
Prints progress on stderr, a table on stdout, and as its last line one JSON object.

Every figure is a ratio of contenders measured side by side, interleaved, in this one run (the machine is shared
and noisy; absolute numbers are printed for scale only). See BENCHMARKS.md for what each figure means.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repo root importable (benchmarks, otel_filter, ...)
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import quiet_logging  # noqa: E402

SECTIONS = ("overhead", "isolation", "throughput", "memory", "server", "metrics")

# (key, target description, predicate) for the summary table; None = informational.
TARGETS: dict[str, tuple[str, Callable[[float], bool] | None]] = {
    "overhead_vs_floor": ("<= 1.5x", lambda v: v <= 1.5),
    "overhead_vs_floor_cpu": ("<= 1.5x", lambda v: v <= 1.5),
    "overhead_vs_langfuse_sdk": (">= 20x", lambda v: v >= 20),
    "overhead_vs_langfuse_sdk_cpu": (">= 20x", lambda v: v >= 20),
    "isolation_p99_ratio": ("0.9-1.1", lambda v: 0.9 <= v <= 1.1),
    "isolation_down_p99_ratio": ("0.9-1.1", lambda v: 0.9 <= v <= 1.1),
    "turns_per_s": (">= 5000", lambda v: v >= 5000),
    "lost": ("0", lambda v: v == 0),
    "bytes_per_open_turn": ("<= 2048", lambda v: v <= 2048),
    "rss_growth_pct": ("-5..+5 %", lambda v: -5 <= v <= 5),
}


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415

    result = {"python": platform.python_version()}
    for package in ("opentelemetry-sdk", "langfuse", "fastapi", "uvicorn", "httpx", "owui-otel"):
        try:
            result[package] = version(package)
        except PackageNotFoundError:
            result[package] = "-"
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python benchmarks/run.py", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sample sizes (CI smoke, ~1 min)")
    parser.add_argument("--only", default="", help=f"comma-separated sections: {', '.join(SECTIONS)}")
    parser.add_argument("--rss-turns", type=int, default=None, help="turns for the RSS run (default 1,000,000)")
    args = parser.parse_args(argv)
    only = [s.strip() for s in args.only.split(",") if s.strip()] or list(SECTIONS)
    unknown = [s for s in only if s not in SECTIONS]
    if unknown:
        parser.error(f"unknown section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    quiet_logging()
    started = time.monotonic()
    load_start = os.getloadavg()[0]
    summary: dict[str, Any] = {
        "overhead_vs_floor": None,
        "overhead_vs_langfuse_sdk": None,
        "isolation_p99_ratio": None,
        "turns_per_s": None,
        "lost": None,
        "bytes_per_open_turn": None,
        "rss_growth_pct": None,
        "server_rps_ratio": None,
    }
    details: dict[str, Any] = {}
    rss_child = None
    if "memory" in only:
        from benchmarks import _memory  # noqa: PLC0415

        turns = args.rss_turns if args.rss_turns is not None else (10_000 if args.quick else 1_000_000)
        _log(f"== memory/rss: {turns:,} turns in a child process at nice 19, alongside the other sections")
        rss_child = _memory.start_rss(turns)
    try:
        for section in SECTIONS:
            if section not in only:
                continue
            _log(f"== {section}")
            section_start = time.monotonic()
            result = _run_section(section, quick=args.quick)
            details[section] = result
            summary.update({k: v for k, v in result.items() if not isinstance(v, dict | list)})
            _log(f"   ({time.monotonic() - section_start:.0f} s)")
        if rss_child is not None:
            _log("== memory/rss: waiting for the child")
            summary.update(_memory.finish_rss(rss_child, _log))
            rss_child = None
    finally:
        if rss_child is not None and rss_child.poll() is None:
            rss_child.kill()
            rss_child.wait()
    summary["quick"] = args.quick
    summary["sections"] = only
    summary["seconds"] = round(time.monotonic() - started, 1)
    summary["cpus"] = os.cpu_count()
    summary["loadavg_1min_start_end"] = [round(load_start, 2), round(os.getloadavg()[0], 2)]
    summary["versions"] = _versions()
    _print_table(summary, details)
    print(json.dumps(_rounded(summary), sort_keys=False))
    return 0


def _run_section(section: str, *, quick: bool) -> dict[str, Any]:
    # Imported here so that `--only` never loads (or starts) what another section needs.
    module = importlib.import_module(f"benchmarks._{section}")
    result: dict[str, Any] = module.run(quick=quick, log=_log)
    return result


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 3 if abs(value) < 100 else 1)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def _print_table(summary: dict[str, Any], details: dict[str, Any]) -> None:
    rows: list[tuple[str, str, str, str]] = []
    for key, value in summary.items():
        if key in ("versions", "sections", "quick", "seconds", "cpus") or isinstance(value, dict | list | tuple):
            continue
        target, check = TARGETS.get(key, (None, None))
        status = "" if check is None or value is None else ("met" if check(value) else "MISSED")
        rows.append((key, _fmt(value), target or "", status))
    overhead = details.get("overhead", {}).get("scenarios", {})
    width = max(len(r[0]) for r in rows) if rows else 10
    print(f"{'figure':<{width}}  {'value':>12}  {'target':>10}  status")
    for key, value, target, status in rows:
        print(f"{key:<{width}}  {value:>12}  {target:>10}  {status}")
    if overhead:
        print()
        print(
            f"{'per-turn overhead':<20} {'ours wall/CPU us':>18} {'floor wall/CPU us':>18} {'seed wall/CPU us':>18} "
            f"{'vs floor wall/CPU':>18} {'seed/ours wall/CPU':>19}"
        )
        for name, s in overhead.items():
            print(
                f"{name:<20} {s['ours_wall_us']:>8.0f} /{s['ours_cpu_us']:>7.0f} "
                f"{s['floor_wall_us']:>9.0f} /{s['floor_cpu_us']:>7.0f} "
                f"{s['seed_wall_us']:>9.0f} /{s['seed_cpu_us']:>7.0f} "
                f"{s['vs_floor_wall']:>9.2f}x /{s['vs_floor_cpu']:>5.2f}x "
                f"{s['seed_vs_ours_wall']:>9.1f}x /{s['seed_vs_ours_cpu']:>5.1f}x"
            )
    print()


if __name__ == "__main__":
    raise SystemExit(main())
