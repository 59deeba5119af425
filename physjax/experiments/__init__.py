"""Registry of reproducible experiments.

Each experiment is a module ``physjax/experiments/<name>.py`` holding one function
registered with :func:`register`::

    from physjax.experiments import ExperimentResult, register

    @register(
        "ising",
        description="2-D lattice Ising model: magnetization across T_c",
        quick={"L": 16, "n_sweeps": 2_000},
        full={"L": 64, "n_sweeps": 50_000},
    )
    def ising(key, *, L, n_sweeps, progress=None):
        ...
        return ExperimentResult(data={...}, figure=fig, summary={...})

The function receives a ``jax.random`` key first and the parameters as keyword
arguments. If it has a parameter named ``progress`` it is also passed a callback
``progress(done, total)`` to report work done (the CLI turns it into a progress bar);
``progress`` may be ``None`` when nobody listens.

Experiment modules are imported lazily, on the first call of :func:`get`,
:func:`names` or :func:`run_experiment`; importing :mod:`physjax` or this package
imports neither the experiments nor matplotlib.
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import importlib
import inspect
import json
import math
import numbers
import os
import pkgutil
import re
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, get_args

from physjax._files import atomic_write_text
from physjax._options import RunSize

__all__ = [
    "RunSize",
    "Experiment",
    "ExperimentResult",
    "execute",
    "get",
    "names",
    "parse_assignments",
    "register",
    "resolve_params",
    "run_experiment",
    "save_result",
    "to_jsonable",
]


_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


@dataclasses.dataclass(frozen=True)
class ExperimentResult:
    """What an experiment returns.

    Attributes:
        data: dict of arrays and numbers; JSON-serializable after ``.tolist()``
            (see :func:`to_jsonable`).
        figure: a ``matplotlib.figure.Figure`` or ``None``.
        summary: flat dict ``{name: scalar}`` of headline numbers for the summary table.
    """

    data: dict[str, Any]
    figure: Any = None
    summary: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Experiment:
    """A registered experiment: its function and its parameter sets."""

    name: str
    fn: Callable[..., ExperimentResult]
    description: str
    quick: Mapping[str, Any]
    full: Mapping[str, Any]

    def params(self, size: RunSize = "quick") -> dict[str, Any]:
        """Default parameters at ``size`` (``'quick'`` or ``'full'``)."""
        if size not in get_args(RunSize):   # not _checks: the registry stays free of jax
            raise ValueError(f"size must be one of {get_args(RunSize)}, got {size!r}")
        return dict(self.quick if size == "quick" else self.full)

    @property
    def accepts_progress(self) -> bool:
        """Whether the function takes a ``progress(done, total)`` callback."""
        return "progress" in inspect.signature(self.fn).parameters


_REGISTRY: dict[str, Experiment] = {}
_discovered = False


def register(
    name: str,
    *,
    description: str,
    quick: Mapping[str, Any],
    full: Mapping[str, Any],
) -> Callable[[Callable[..., ExperimentResult]], Callable[..., ExperimentResult]]:
    """Decorator registering ``fn(key, **params) -> ExperimentResult`` as experiment ``name``.

    ``quick`` and ``full`` are the default parameters of the two sizes; they must have
    the same keys. The decorated function is returned unchanged.
    """
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ValueError(
            f"experiment name must be a non-empty string of letters, digits, '_', '-', '.' "
            f"(it names the output files), got {name!r}"
        )
    if not isinstance(description, str) or not description.strip():
        raise ValueError(f"experiment {name!r}: description must be a non-empty string")
    for label, params in (("quick", quick), ("full", full)):
        if not isinstance(params, Mapping):
            raise TypeError(
                f"experiment {name!r}: {label} must be a dict of parameters, "
                f"got {type(params).__name__}"
            )
        if "progress" in params:
            raise ValueError(
                f"experiment {name!r}: 'progress' is reserved for the progress callback "
                f"and cannot be a parameter in {label}"
            )
    if set(quick) != set(full):
        only_quick = sorted(set(quick) - set(full))
        only_full = sorted(set(full) - set(quick))
        raise ValueError(
            f"experiment {name!r}: quick and full must have the same parameter names; "
            f"only in quick: {only_quick}, only in full: {only_full}"
        )

    def decorator(fn: Callable[..., ExperimentResult]) -> Callable[..., ExperimentResult]:
        if not callable(fn):
            raise TypeError(f"experiment {name!r}: register must decorate a function")
        old = _REGISTRY.get(name)
        if old is not None and _qualified(old.fn) != _qualified(fn):
            raise ValueError(
                f"experiment {name!r} is already registered by {_qualified(old.fn)}; "
                f"cannot register {_qualified(fn)} under the same name"
            )
        _REGISTRY[name] = Experiment(
            name=name, fn=fn, description=description.strip(), quick=dict(quick), full=dict(full)
        )
        return fn

    return decorator


def _qualified(fn: Callable) -> str:
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"


def _discover() -> None:
    """Import every module of this package once, so that their ``@register`` run."""
    global _discovered
    if _discovered:
        return
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        importlib.import_module(f"{__name__}.{info.name}")
    _discovered = True


def names() -> list[str]:
    """Sorted names of the registered experiments."""
    _discover()
    return sorted(_REGISTRY)


def get(name: str) -> Experiment:
    """The registered :class:`Experiment` called ``name``; ``ValueError`` if there is none."""
    _discover()
    try:
        return _REGISTRY[name]
    except KeyError:
        known = sorted(_REGISTRY)
        close = difflib.get_close_matches(str(name), known, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        listing = ", ".join(known) if known else "(none)"
        raise ValueError(
            f"unknown experiment {name!r}; registered experiments: {listing}.{hint}"
        ) from None


def parse_assignments(entries: Iterable[str]) -> dict[str, str]:
    """Parse ``["key=value", ...]`` (the CLI's ``--set`` entries) into a dict of strings."""
    out: dict[str, str] = {}
    for entry in entries:
        key, sep, value = str(entry).partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"--set expects key=value, got {entry!r}")
        out[key] = value.strip()
    return out


_TRUE = {"1", "true", "yes", "on", "y", "t"}
_FALSE = {"0", "false", "no", "off", "n", "f"}


def _cast(experiment: str, key: str, value: Any, default: Any) -> Any:
    """Cast an override ``value`` (often a string from the CLI) to the type of ``default``."""
    kind = type(default).__name__

    def bad(expected: str) -> ValueError:
        return ValueError(
            f"parameter {key!r} of experiment {experiment!r} expects {expected} "
            f"(default {default!r}), got {value!r}"
        )

    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise bad("a bool (true/false, yes/no, 1/0)")
    if isinstance(default, numbers.Integral):
        if isinstance(value, bool):
            raise bad("an int")
        if isinstance(value, numbers.Integral):
            return int(value)
        number = value
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                pass
            try:
                number = float(value)  # accept "1e3"
            except ValueError:
                raise bad("an int") from None
        if isinstance(number, numbers.Real) and math.isfinite(number) and number == int(number):
            return int(number)
        raise bad("an int")
    if isinstance(default, numbers.Real):
        if isinstance(value, bool):
            raise bad("a float")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise bad("a float") from None
    if isinstance(default, str):
        if isinstance(value, str):
            return value
        raise bad("a string")
    if isinstance(default, tuple | list):
        if isinstance(value, str):
            text = value.strip()
            if text.startswith(("[", "(")):
                try:
                    items = list(ast.literal_eval(text))
                except (ValueError, SyntaxError, TypeError):
                    raise bad(f"a comma-separated {kind}") from None
            else:
                items = [item.strip() for item in text.split(",") if item.strip()]
        elif isinstance(value, Iterable):
            items = list(value)
        else:
            raise bad(f"a comma-separated {kind}")
        if default:
            items = [_cast(experiment, key, item, default[0]) for item in items]
        return type(default)(items)
    if default is None:
        if isinstance(value, str):
            try:
                return ast.literal_eval(value)
            except (ValueError, SyntaxError):
                return value
        return value
    if isinstance(value, type(default)):
        return value
    raise ValueError(
        f"parameter {key!r} of experiment {experiment!r} has a default of type {kind} "
        f"that cannot be set from {value!r}"
    )


def resolve_params(
    name: str, size: str = "quick", overrides: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Parameters of experiment ``name`` at ``size`` with ``overrides`` merged in.

    Each override is cast to the type of its default value (strings such as ``"32"``,
    ``"0.5"``, ``"true"``, ``"1.0,2.0"`` are parsed). An unknown key raises
    ``ValueError`` naming it and listing the valid keys.
    """
    experiment = get(name)
    params = experiment.params(size)
    for key, value in (overrides or {}).items():
        if key not in params:
            valid = ", ".join(params) if params else "(none)"
            raise ValueError(
                f"unknown parameter {key!r} for experiment {name!r}; valid parameters: {valid}"
            )
        params[key] = _cast(name, key, value, params[key])
    return params


def to_jsonable(obj: Any) -> Any:
    """Convert arrays, NumPy scalars, tuples and nested dicts to plain JSON types.

    Non-finite floats (NaN, ±inf) become ``None`` so that the output is strict JSON.
    """
    import numpy as np

    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, bool | str) or obj is None:
        return obj
    if isinstance(obj, numbers.Integral):
        return int(obj)
    if isinstance(obj, numbers.Real):
        value = float(obj)
        return value if math.isfinite(value) else None
    if isinstance(obj, numbers.Complex):
        return [to_jsonable(obj.real), to_jsonable(obj.imag)]
    if isinstance(obj, list | tuple):
        return [to_jsonable(v) for v in obj]
    if hasattr(obj, "dtype") and hasattr(obj, "shape"):
        import jax

        if jax.dtypes.issubdtype(obj.dtype, jax.dtypes.prng_key):
            obj = jax.random.key_data(obj)
        return to_jsonable(np.asarray(obj).tolist())
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot convert {type(obj).__name__} to JSON: {obj!r}")


def _check_result(name: str, result: Any) -> ExperimentResult:
    if not isinstance(result, ExperimentResult):
        raise TypeError(
            f"experiment {name!r} returned {type(result).__name__}; expected ExperimentResult"
        )
    if not isinstance(result.data, Mapping):
        raise TypeError(f"experiment {name!r}: data must be a dict, got {type(result.data)}")
    if not isinstance(result.summary, Mapping):
        raise TypeError(f"experiment {name!r}: summary must be a dict, got {type(result.summary)}")
    for key, value in result.summary.items():
        shape = getattr(value, "shape", ())
        if isinstance(value, Mapping | list | tuple) or shape not in ((), (1,)):
            raise TypeError(
                f"experiment {name!r}: summary[{key!r}] must be a scalar (the summary is a "
                f"flat table of headline numbers), got {type(value).__name__}"
            )
    return result


def execute(
    name: str,
    params: Mapping[str, Any],
    key=None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[ExperimentResult, float]:
    """Run experiment ``name`` with fully resolved ``params``; return (result, seconds).

    The time covers the call and waits for all arrays in ``data`` to be computed.  This is
    the one place a run is timed (experiments do not time themselves); the CLI and
    :func:`run_experiment` record it as ``seconds`` beside the summary.
    """
    import jax

    experiment = get(name)
    if key is None:
        key = jax.random.key(0)
    kwargs = dict(params)
    if experiment.accepts_progress:
        kwargs["progress"] = progress
    start = time.perf_counter()
    result = experiment.fn(key, **kwargs)
    result = _check_result(name, result)
    jax.block_until_ready((result.data, result.summary))
    return result, time.perf_counter() - start


def save_result(
    name: str,
    result: ExperimentResult,
    out_dir: str | os.PathLike,
    *,
    metadata: Mapping[str, Any] | None = None,
    write_json: bool = True,
) -> dict[str, Path]:
    """Write ``NAME.png`` (if there is a figure) and ``NAME.json`` into ``out_dir``.

    ``NAME.json`` holds ``metadata`` (e.g. size, params, seconds), the ``environment``
    (versions, backend, devices, git commit; unless ``metadata`` has one), ``summary`` and
    ``data``.
    Returns the paths written, keyed ``'figure'`` and ``'json'``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    if result.figure is not None:
        from physjax.plotting import save_figure

        written["figure"] = save_figure(result.figure, out / f"{name}.png")
    if write_json:
        record = {"name": name, **(metadata or {})}
        if "environment" not in record:  # every JSON physjax writes says what made it
            from physjax._provenance import environment

            record["environment"] = environment()
        record["summary"] = result.summary
        record["data"] = result.data
        path = out / f"{name}.json"
        atomic_write_text(path, json.dumps(to_jsonable(record), indent=1) + "\n")
        written["json"] = path
    return written


def run_experiment(
    name: str,
    size: str = "quick",
    overrides: Mapping[str, Any] | None = None,
    key=None,
    out_dir: str | os.PathLike | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ExperimentResult:
    """Run experiment ``name`` at ``size`` with ``overrides``; save it when ``out_dir`` is given.

    Args:
        name: a registered experiment (see :func:`names`).
        size: ``'quick'`` (seconds to a minute on a CPU) or ``'full'``.
        overrides: ``{param: value}``; values may be strings, cast to the default's type.
        key: ``jax.random`` key; ``jax.random.key(0)`` when ``None``.
        out_dir: if given, write ``NAME.png`` and ``NAME.json`` there.
        progress: callback ``progress(done, total)``, passed on to experiments that take it.
    """
    params = resolve_params(name, size, overrides)
    result, seconds = execute(name, params, key=key, progress=progress)
    if out_dir is not None:
        save_result(
            name, result, out_dir, metadata={"size": size, "params": params, "seconds": seconds}
        )
    return result
