"""Run physjax's benchmarks: ``python benchmarks/run.py [--quick] [--only NAME] [--repeats N]
[--out DIR]``.

Discovers ``benchmarks/bench_*.py``; each module exposes ``NAME`` and
``run(quick: bool, repeats: int) -> list[dict]`` returning rows with at least ``name``,
``workload``, ``median_s``, ``figure`` and ``unit``, and ``anchors``: a list of
``{"name", "figure", "ratio", ...}`` measured in the same run (``ratio`` = physjax / anchor;
an anchor that could not run has ``figure: None`` and ``unavailable: reason``).

Every row that states its work per timed call (``bytes`` and/or ``flops``) gets a roofline
entry (``_roofline.py``): its rate as a fraction of the limit that binds it, memory bandwidth
or float32 GEMM rate, both measured in the same run (STREAM-like copy/triad and a large GEMM,
before and after the benchmarks; the best of the two is the limit).

Prints a table and writes ``<out>/<machine>-<date>.json`` (default ``benchmarks/results/``;
``-quick`` and ``-only-NAME`` are appended to the file name for partial runs so that they
never overwrite a full run).  Paths are found from this file, so it runs from any directory
(``physjax bench`` launches it).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import importlib.util
import json
import os
import platform
import re
import subprocess
import sys
import time
import traceback
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
DEFAULT_OUT = BENCH_DIR / "results"
DEFAULT_REPEATS = 7
QUICK_REPEATS = 5


# --------------------------------------------------------------------------- discovery

def discover() -> dict[str, Path]:
    """``NAME -> path`` for every ``bench_*.py`` next to this file (NAME = file stem less
    ``bench_``; the module's own ``NAME`` is checked when it is loaded)."""
    return {p.stem.removeprefix("bench_"): p for p in sorted(BENCH_DIR.glob("bench_*.py"))}


def load(path: Path):
    if str(BENCH_DIR) not in sys.path:
        sys.path.insert(0, str(BENCH_DIR))  # for the shared helpers in _harness.py
    spec = importlib.util.spec_from_file_location(f"physjax_benchmarks.{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses and pickling look the module up here
    spec.loader.exec_module(module)
    for attr in ("NAME", "run"):
        if not hasattr(module, attr):
            raise AttributeError(f"{path.name} must define {attr}")
    return module


# ----------------------------------------------------------------------------- machine

def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    if sys.platform == "darwin":
        try:
            return subprocess.run(["sysctl", "-n", "machdep.cpu.brand_string"],
                                  capture_output=True, text=True, timeout=5).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            pass
    return platform.processor() or platform.machine() or "unknown"


_NOISE = {"intel", "amd", "cpu", "processor", "genuine", "core", "with", "radeon",
          "graphics", "nvidia", "tesla", "apple"}


def _slug_words(text: str, n: int) -> str:
    text = re.sub(r"\((r|tm)\)|@.*$|\d+-core|\d+gb\b", " ", text.lower())
    words = [w for w in re.findall(r"[a-z0-9]+", text) if w not in _NOISE]
    return "-".join(words[:n]) or "unknown"


def machine_info() -> dict:
    """What the figures were measured on: no host names, no user paths."""
    import jax
    import numpy as np

    devices = jax.devices()
    backend = jax.default_backend()
    cores = os.cpu_count() or 0
    if backend == "cpu":
        slug = f"cpu-{cores}core-{_slug_words(_cpu_model(), 2)}"
    else:
        kind = _slug_words(devices[0].device_kind, 1)
        slug = f"{backend}-{len(devices)}x{kind}" if len(devices) > 1 else f"{backend}-{kind}"
    info = {
        "slug": slug,
        "cpu_model": _cpu_model(),
        "cpu_cores": cores,
        "os": f"{platform.system()} {platform.release()}",
        "arch": platform.machine(),
        "python": platform.python_version(),
        "jax": jax.__version__,
        "numpy": np.__version__,
        "backend": backend,
        "devices": [f"{d.platform}:{d.device_kind}" for d in devices],
    }
    try:
        import physjax

        info["physjax"] = physjax.__version__
    except ImportError:
        info["physjax"] = None
    info["physjax_commit"] = _git_commit()
    return info


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, timeout=10)
        if out.returncode:
            return None
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain",
                                "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return out.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def _load_average() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def _cpu_seconds() -> tuple[float, float] | None:
    """(CPU seconds busy on the whole machine, CPU seconds of this process and its children),
    to tell afterwards how many cores other processes kept busy during the run (Linux)."""
    try:
        import resource

        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
        user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, fields[:8])
        busy = (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")
        own = sum(r.ru_utime + r.ru_stime for r in (
            resource.getrusage(resource.RUSAGE_SELF),
            resource.getrusage(resource.RUSAGE_CHILDREN)))
        return busy, own
    except (OSError, ValueError, ImportError, AttributeError):
        return None


# ------------------------------------------------------------------------------- table

def _fmt(x, digits=3) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:.{digits}g}" if abs(x) < 1e4 else f"{x:.0f}"
    return str(x)


def format_table(results: list[dict]) -> str:
    from _roofline import fmt as roofline_fmt

    header = ["bench", "engine", "workload", "sweeps", "median s", "figure", "roofline",
              "target", "anchors: figure (physjax/anchor)"]
    lines = []
    for bench in results:
        if bench.get("error"):
            lines.append([bench["name"], "ERROR", bench["error"].splitlines()[-1][:80],
                          "", "", "", "", "", ""])
            continue
        for row in bench["rows"]:
            anchors = []
            for a in row.get("anchors", []):
                if a.get("figure") is None:
                    anchors.append(f"{a['name']} n/a")
                else:
                    anchors.append(f"{a['name']} {_fmt(a['figure'])} ({_fmt(a['ratio'])}x)")
            target = ""
            if row.get("target") is not None:
                target = f">={_fmt(row['target'])} " + ("ok" if row.get("meets_target")
                                                        else "MISSED")
            lines.append([bench["name"], row["name"], row["workload"],
                          _fmt(row.get("sweeps")), _fmt(row["median_s"]),
                          f"{_fmt(row['figure'])} {row.get('unit', '')}".strip(),
                          roofline_fmt(row.get("roofline")), target,
                          "; ".join(anchors)])
    widths = [max(len(header[i]), *(len(r[i]) for r in lines)) if lines else len(header[i])
              for i in range(len(header))]
    fmt_row = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
    out = [fmt_row(header), fmt_row(["-" * w for w in widths])]
    out += [fmt_row(r) for r in lines]
    notes = [f"  {bench['name']}: {a['name']} unavailable: {a['unavailable']}"
             for bench in results for a in _unique_anchors(bench) if a.get("unavailable")]
    if notes:
        out += ["", "anchors not measured:", *notes]
    return "\n".join(out)


def _unique_anchors(bench: dict) -> list[dict]:
    seen, out = set(), []
    for row in bench.get("rows", []):
        for a in row.get("anchors", []):
            key = (a["name"], a.get("unavailable"))
            if key not in seen:
                seen.add(key)
                out.append(a)
    return out


# -------------------------------------------------------------------------------- main

def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="benchmarks/run.py",
        description="Run physjax's benchmarks next to their anchors and write a JSON record.")
    p.add_argument("--quick", action="store_true",
                   help="smaller workloads / fewer sweeps (about 2 minutes on a 2-core CPU)")
    p.add_argument("--only", metavar="NAME", action="append",
                   help="run only this benchmark (repeatable); see --list")
    p.add_argument("--repeats", type=int, default=None, metavar="N",
                   help=f"timed runs per figure, after one warm-up (default {DEFAULT_REPEATS}, "
                        f"{QUICK_REPEATS} with --quick; the median is reported)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, metavar="DIR",
                   help="directory for the JSON record (default: benchmarks/results/)")
    p.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    p.add_argument("--no-roofline", action="store_true",
                   help="skip the bandwidth/GEMM probes and the roofline column")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    available = discover()
    if args.list:
        print("\n".join(available))
        return 0
    names = list(available)
    if args.only:
        unknown = [n for n in args.only if n not in available]
        if unknown:
            print(f"unknown benchmark(s) {unknown}; available: {', '.join(available)}",
                  file=sys.stderr)
            return 2
        names = [n for n in names if n in args.only]
    repeats = args.repeats if args.repeats is not None else (
        QUICK_REPEATS if args.quick else DEFAULT_REPEATS)
    if repeats < 1:
        print("--repeats must be >= 1", file=sys.stderr)
        return 2

    machine = machine_info()
    started = _dt.datetime.now().astimezone()
    load_start, cpu_start, wall_start = _load_average(), _cpu_seconds(), time.perf_counter()
    print(f"physjax benchmarks on {machine['slug']} ({machine['cpu_model']}, "
          f"{machine['cpu_cores']} cores, jax {machine['jax']} {machine['backend']}: "
          f"{', '.join(machine['devices'])}); repeats={repeats}"
          f"{', quick' if args.quick else ''}", flush=True)

    if str(BENCH_DIR) not in sys.path:
        sys.path.insert(0, str(BENCH_DIR))
    import _roofline

    probes = []
    if not args.no_roofline:
        print("[roofline probes]", file=sys.stderr, flush=True)
        probes.append(_roofline.measure())

    results = []
    for name in names:
        print(f"[{name}]", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        entry = {"name": name, "rows": [], "error": None}
        try:
            module = load(available[name])
            entry["description"] = getattr(module, "DESCRIPTION", "")
            entry["rows"] = module.run(quick=args.quick, repeats=repeats)
        except Exception:  # noqa: BLE001 - report and go on with the other benchmarks
            entry["error"] = traceback.format_exc()
            print(entry["error"], file=sys.stderr)
        entry["wall_s"] = round(time.perf_counter() - t0, 2)
        results.append(entry)

    limits = None
    if not args.no_roofline:
        print("[roofline probes, again]", file=sys.stderr, flush=True)
        probes.append(_roofline.measure())
        limits = _roofline.best_of(probes)
        for entry in results:
            _roofline.annotate(entry["rows"], limits)

    cpu_end, wall = _cpu_seconds(), time.perf_counter() - wall_start
    other_cores = None
    if cpu_start and cpu_end:
        other = (cpu_end[0] - cpu_start[0]) - (cpu_end[1] - cpu_start[1])
        other_cores = round(max(other, 0.0) / wall, 2)
    print()
    print(format_table(results))
    if limits:
        print(f"\nroofline: fraction of the binding limit (mem: {limits['memory_source']}; "
              f"cmp: {limits['compute_source']})")
    if other_cores is not None and other_cores > 0.2:
        print(f"\nnote: other processes kept {other_cores} of {os.cpu_count()} cores busy on "
              f"average during this run: timings may be low and noisy")

    suffix = ("-quick" if args.quick else "") + (
        "-only-" + "-".join(names) if args.only else "")
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"{machine['slug']}-{started.date().isoformat()}{suffix}.json"
    record = {
        "schema": 1,
        "date": started.isoformat(timespec="seconds"),
        "machine": machine,
        "options": {"quick": args.quick, "only": args.only, "repeats": repeats,
                    "statistic": "median of the timed runs after one warm-up run"},
        "wall_s": round(wall, 1),
        "load_average_1min_at_start": load_start,
        "other_processes_cores_busy": other_cores,
        "roofline_limits": limits,
        "roofline_probes": probes,
        "benchmarks": results,
    }
    path.write_text(json.dumps(record, indent=2) + "\n")
    shown = path.relative_to(REPO) if path.is_relative_to(REPO) else path
    print(f"\nwrote {shown}")
    return 1 if any(r["error"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
