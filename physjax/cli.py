"""The ``physjax`` command line.

    physjax info                      versions, backend, devices, x64
    physjax list [-v]                 registered experiments
    physjax run NAME [--size quick|full] [--out DIR] [--set key=value ...] [--seed N]
    physjax demo [--out DIR] [--size quick|full] [--seed N]
    physjax bench [ARGS ...]          benchmarks/run.py of the source checkout

Errors in what the user asked for (unknown experiment, bad ``--set``) print one line to
stderr and exit with status 2; an experiment that fails exits with status 1.

Every JSON file written (``NAME.json`` of ``run``, ``results.json`` of ``demo``) holds an
``environment`` record: versions, backend, devices, x64 and, from a source checkout, the
git commit and whether the checkout had uncommitted changes.  Outputs are written
atomically with the permissions of ordinary ``open()`` (``0o666 & ~umask``).
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import numbers
import subprocess
import sys
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from physjax._files import atomic_write_text

DEFAULT_OUT = "physjax-out"

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


class UsageError(Exception):
    """An error in what the user asked for: printed as one line, exit status 2."""


def _error(message: str) -> None:
    print(f"physjax: error: {message}", file=sys.stderr)


# --------------------------------------------------------------------------- formatting


def _format_value(value: Any) -> str:
    if hasattr(value, "shape") and getattr(value, "size", 2) == 1:
        value = value.item() if hasattr(value, "item") else value
    if value is None:
        return "—"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        value = float(value)
        return f"{value:.6g}" if math.isfinite(value) else str(value)
    return str(value)


def _md_cell(value: Any) -> str:
    return _format_value(value).replace("|", "\\|").replace("\n", " ")


def _print_summary(name: str, summary: Mapping[str, Any], seconds: float) -> None:
    rows = [(str(k), _format_value(v)) for k, v in summary.items()]
    rows.append(("time (s)", f"{seconds:.2f}"))
    width = max(len(k) for k, _ in rows)
    print(f"{name}:")
    for key, value in rows:
        print(f"  {key:<{width}}  {value}")


# --------------------------------------------------------------------------- progress


class _ProgressBar:
    """A tqdm bar per experiment, fed by the experiment's ``progress(done, total)`` calls."""

    def __init__(self, name: str):
        from tqdm.auto import tqdm

        self.bar = tqdm(desc=name, total=None, unit="step", leave=True, dynamic_ncols=True)

    def __call__(self, done: int, total: int | None = None) -> None:
        if total is not None and self.bar.total != total:
            self.bar.total = total
            self.bar.refresh()
        self.bar.update(max(0, int(done) - self.bar.n))

    def close(self, status: str) -> None:
        if self.bar.total is None:
            self.bar.total = max(self.bar.n, 1)
        if status == "ok":
            self.bar.update(self.bar.total - self.bar.n)
        self.bar.set_postfix_str(status, refresh=False)
        self.bar.close()


def _run_one(name: str, params: Mapping[str, Any], seed: int):
    """Run one experiment with a progress bar; return (result, seconds).

    Exceptions from the experiment propagate after the bar is closed.
    """
    import jax

    from physjax import experiments

    bar = _ProgressBar(name)
    try:
        result, seconds = experiments.execute(name, params, key=jax.random.key(seed), progress=bar)
    except BaseException:
        bar.close("failed")
        raise
    bar.close("ok")
    return result, seconds


def _report_failure(name: str, exc: BaseException) -> str:
    """Print why experiment ``name`` failed; return a one-line description."""
    line = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, ValueError | TypeError):
        # Input validation errors are written to be read; a traceback adds nothing.
        _error(f"experiment {name!r} failed: {line}")
    else:
        traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
        _error(f"experiment {name!r} failed: {line}")
    return line


# --------------------------------------------------------------------------- commands


def _environment() -> dict[str, Any]:
    """Versions, backend, devices, x64 and git commit: the provenance of every JSON we write."""
    from physjax._provenance import environment

    return environment()


def _cmd_info(args: argparse.Namespace) -> int:
    env = _environment()
    rows = [
        ("physjax", env["physjax"]),
        ("python", env["python"]),
        ("jax", env["jax"]),
        ("jaxlib", env["jaxlib"]),
        ("backend", env["backend"]),
        (
            "device count",
            f"{env['device_count']} ({env['local_device_count']} local, "
            f"process {env['process_index']} of {env['process_count']})",
        ),
        ("x64", "on" if env["x64"] else "off"),
    ]
    if env["git"] is not None:
        dirty = {True: " (uncommitted changes)", False: "", None: ""}[env["git"]["dirty"]]
        rows.append(("git commit", env["git"]["commit"] + dirty))
    for key, value in rows:
        print(f"{key + ':':<14}{value}")
    print("devices:")
    for device in env["devices"]:
        print(f"  {device}")
    return EXIT_OK


def _cmd_list(args: argparse.Namespace) -> int:
    from physjax import experiments

    names = experiments.names()
    if not names:
        print("(no experiments registered)")
        return EXIT_OK
    width = max(len(n) for n in names)
    for name in names:
        exp = experiments.get(name)
        print(f"{name:<{width}}  {exp.description}")
        if args.verbose:
            for size in ("quick", "full"):
                params = ", ".join(f"{k}={v!r}" for k, v in exp.params(size).items())
                print(f"{'':<{width}}    {size}: {params or '(no parameters)'}")
    return EXIT_OK


def _cmd_run(args: argparse.Namespace) -> int:
    from physjax import experiments

    try:
        overrides = experiments.parse_assignments(args.set or [])
        params = experiments.resolve_params(args.name, args.size, overrides)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    try:
        result, seconds = _run_one(args.name, params, args.seed)
    except Exception as exc:
        _report_failure(args.name, exc)
        return EXIT_FAILED
    written = experiments.save_result(
        args.name,
        result,
        args.out,
        metadata={
            "size": args.size,
            "seed": args.seed,
            "params": params,
            "seconds": seconds,
            "environment": _environment(),
        },
    )
    _print_summary(args.name, result.summary, seconds)
    for path in written.values():
        print(f"wrote {path}")
    return EXIT_OK


def _cmd_demo(args: argparse.Namespace) -> int:
    from physjax import experiments

    names = experiments.names()
    if not names:
        raise UsageError("no experiments are registered; nothing to run")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    env = _environment()
    records: dict[str, dict[str, Any]] = {}
    failed = []
    for name in names:
        exp = experiments.get(name)
        params = exp.params(args.size)
        record: dict[str, Any] = {
            "description": exp.description,
            "params": params,
            "seconds": None,
            "figure": None,
            "summary": {},
            "data": {},
            "error": None,
        }
        try:
            result, seconds = _run_one(name, params, args.seed)
        except Exception as exc:
            record["error"] = _report_failure(name, exc)
            failed.append(name)
        else:
            written = experiments.save_result(name, result, out, write_json=False)
            record.update(
                seconds=seconds,
                figure=written["figure"].name if "figure" in written else None,
                summary=dict(result.summary),
                data=dict(result.data),
            )
        records[name] = record

    created = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    results = {
        "created": created,
        "size": args.size,
        "seed": args.seed,
        "environment": env,
        "experiments": records,
    }
    results_path = out / "results.json"
    atomic_write_text(
        results_path, json.dumps(experiments.to_jsonable(results), indent=1) + "\n"
    )
    summary_path = out / "summary.md"
    atomic_write_text(summary_path, _summary_markdown(results))

    n_figures = sum(bool(r["figure"]) for r in records.values())
    print(f"wrote {summary_path}, {results_path} and {n_figures} figure(s)")
    if failed:
        _error(f"{len(failed)} of {len(names)} experiment(s) failed: {', '.join(failed)}")
        return EXIT_FAILED
    return EXIT_OK


def _summary_markdown(results: Mapping[str, Any]) -> str:
    env = results["environment"]
    lines = [
        "# physjax demo",
        "",
        f"physjax {env['physjax']} · JAX {env['jax']} · backend {env['backend']} "
        f"({env['device_count']} device{'s' if env['device_count'] != 1 else ''}) · "
        f"x64 {'on' if env['x64'] else 'off'} · size {results['size']} · "
        f"seed {results['seed']} · {results['created']}",
        "",
        "| experiment | quantity | value |",
        "| --- | --- | --- |",
    ]
    for name, record in results["experiments"].items():
        rows = [(k, v) for k, v in record["summary"].items()]
        if record["error"] is not None:
            rows.append(("error", record["error"]))
        else:
            rows.append(("time (s)", f"{record['seconds']:.2f}"))
        for key, value in rows:
            lines.append(f"| {_md_cell(name)} | {_md_cell(key)} | {_md_cell(value)} |")
    figures = [(n, r["figure"]) for n, r in results["experiments"].items() if r["figure"]]
    if figures:
        lines.append("")
        for name, figure in figures:
            lines += [f"## {name}", "", results["experiments"][name]["description"], ""]
            lines += [f"![{name}]({figure})", ""]
    return "\n".join(lines).rstrip() + "\n"


def _find_bench_script() -> Path | None:
    import physjax

    repo = Path(physjax.__file__).resolve().parent.parent
    for candidate in (repo / "benchmarks" / "run.py", Path.cwd() / "benchmarks" / "run.py"):
        if candidate.is_file():
            return candidate
    return None


def _cmd_bench(argv: Sequence[str]) -> int:
    script = _find_bench_script()
    if script is None:
        raise UsageError(
            "benchmarks/run.py not found: `physjax bench` needs a source checkout of physjax "
            "installed with `pip install -e .` (or run it from the checkout's root)"
        )
    return subprocess.call([sys.executable, str(script), *argv])


# --------------------------------------------------------------------------- parser


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="physjax",
        description="physjax: statistical physics of learning systems in JAX.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("info", help="versions, backend, devices, x64")
    p.set_defaults(func=_cmd_info)

    p = sub.add_parser("list", help="list the registered experiments")
    p.add_argument("-v", "--verbose", action="store_true", help="show the parameters")
    p.set_defaults(func=_cmd_list)

    p = sub.add_parser("run", help="run one experiment")
    p.add_argument("name", metavar="NAME", help="experiment name (see `physjax list`)")
    p.add_argument("--size", choices=("quick", "full"), default="quick")
    p.add_argument(
        "--out", default=DEFAULT_OUT, metavar="DIR", help=f"output folder (default ./{DEFAULT_OUT})"
    )
    p.add_argument(
        "--set",
        action="extend",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="override a parameter; cast to the type of its default (repeatable)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the jax.random key (default 0)")
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("demo", help="run every experiment at quick size and summarize")
    p.add_argument(
        "--out", default=DEFAULT_OUT, metavar="DIR", help=f"output folder (default ./{DEFAULT_OUT})"
    )
    p.add_argument("--size", choices=("quick", "full"), default="quick")
    p.add_argument("--seed", type=int, default=0, help="seed of the jax.random key (default 0)")
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser(
        "bench",
        help="run benchmarks/run.py of the source checkout (arguments are passed through)",
        add_help=False,
    )
    p.add_argument("args", nargs=argparse.REMAINDER, help="arguments for benchmarks/run.py")
    p.set_defaults(func=lambda args: _cmd_bench(args.args))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``physjax`` console script; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and argv[0] == "bench":
            return _cmd_bench(argv[1:])
        parser = _build_parser()
        try:
            args = parser.parse_args(argv)
        except SystemExit as exc:  # --help, or argparse's own usage error
            return exc.code if isinstance(exc.code, int) else EXIT_USAGE
        if args.command is None:
            parser.print_help(sys.stderr)
            return EXIT_USAGE
        return args.func(args)
    except UsageError as exc:
        _error(str(exc))
        return EXIT_USAGE
    except KeyboardInterrupt:
        _error("interrupted")
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
