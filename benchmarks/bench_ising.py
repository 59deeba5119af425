"""2D Ising benchmark: checkerboard Metropolis on the periodic square lattice at T = 2.269.

Figure of merit: flips per nanosecond, ``L * L * R * sweeps / seconds / 1e9`` (attempted
spin updates, accepted or not).  Rows, per workload (R replicas of an L x L lattice):

* ``multispin``: ``physjax.spins.run_multispin`` recording once at the end (the sampler's
  own speed);
* ``multispin, observables every sweep``: the same with ``record_every=1`` (energy and
  magnetization of every replica after every sweep), the cost of measuring;
* ``reference (vmap)``: the pure-JAX reference engine, ``jax.vmap`` of ``run_ising``.

Anchors measured in the same run on the same workload: a plain NumPy checkerboard Metropolis
(:func:`numpy_checkerboard_metropolis`, below) and THRML's block Gibbs sampler through the
shared anchor harness ``<repo>/../shared/anchors/thrml_ising.py`` (run as a subprocess with
this interpreter; recorded as unavailable, with the reason, when it cannot run).
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from _harness import log, summarize, time_repeats

NAME = "ising"
DESCRIPTION = "2D periodic Ising, T = 2.269, checkerboard Metropolis (flips/ns)"

TEMPERATURE = 2.269
UNIT = "flips/ns"
ANCHOR_DIR = Path(__file__).resolve().parent.parent.parent / "shared" / "anchors"
THRML_SCRIPT = "thrml_ising.py"
THRML_TIMEOUT_S = 900


@dataclass(frozen=True)
class Workload:
    """R replicas of an L x L lattice and the sweeps each engine runs per timed call.

    ``None`` skips an engine on this workload (too large for it)."""

    L: int
    R: int
    sweeps: int  # multispin, recording once at the end
    obs_sweeps: int  # multispin, recording every sweep
    reference_sweeps: int | None
    numpy_sweeps: int | None
    thrml_sweeps: int | None
    target: float | None = None
    target_text: str = ""

    @property
    def label(self) -> str:
        return f"{self.R} x {self.L}^2"

    def flips_per_ns(self, sweeps: int, seconds: float) -> float:
        return self.L * self.L * self.R * sweeps / seconds / 1e9


def workloads(backend: str, quick: bool) -> list[Workload]:
    """The workloads for this backend: the two CPU targets everywhere, and on an accelerator
    one L = 8192 lattice and a large replica batch (NumPy and THRML skipped on those)."""
    cpu = backend == "cpu"
    targets = {
        "batch": (0.5, ">= 0.5 on the 2-core CPU, ahead of THRML") if cpu else (None, ""),
        "single": (0.2, ">= 0.2 on the 2-core CPU, ahead of THRML") if cpu else (None, ""),
    }
    if cpu:
        # sweeps chosen so that each timed call takes ~0.3-1 s on a 2-core CPU (full run)
        batch = (500, 100, 10, 10, 20) if not quick else (100, 20, 3, 3, 5)
        single = (1000, 500, 40, 50, 20) if not quick else (200, 100, 10, 15, 5)
    else:
        batch = (5000, 1000, 200, 3, 20) if not quick else (1000, 200, 50, 1, 5)
        single = (5000, 1000, 200, 10, 20) if not quick else (1000, 200, 50, 3, 5)
    out = [
        Workload(128, 256, *batch, *targets["batch"]),
        Workload(1024, 1, *single, *targets["single"]),
    ]
    if not cpu:
        big = (2000, 200, 20, None, None) if not quick else (500, 50, 5, None, None)
        out += [
            Workload(8192, 1, *big, 100.0, ">= 100 on a GPU (one L = 8192 lattice)"),
            Workload(256, 4096, *big, 1000.0, ">= 1000 on a GPU (replica batch)"),
        ]
    return out


# ------------------------------------------------------------------------ work counts

# Minimal memory traffic of a sweep (for the roofline column): every spin is read and
# written once per sweep in the engine's storage format -- the neighbour spins of a colour
# are the other colour's words, already read for their own update, and the random numbers
# are generated on chip from a counter (no traffic).  So per attempted flip: 2 x 1 bit =
# 0.25 B for the bit-packed multi-spin engine (uint32 words, 1 bit per spin) and 2 x 1 B for
# the reference engine (int8 spins).  Observables recorded every sweep re-read the state:
# one more read per sweep.
MULTISPIN_BYTES_PER_FLIP = 2 / 8
REFERENCE_BYTES_PER_FLIP = 2.0


def sweep_bytes(L: int, R: int, sweeps: int, *, engine: str = "multispin",
                record_every: int | None = None) -> float:
    """Bytes a run of ``sweeps`` sweeps of R replicas of L x L must move at least."""
    per_flip = MULTISPIN_BYTES_PER_FLIP if engine == "multispin" else REFERENCE_BYTES_PER_FLIP
    reads = 0 if not record_every else sweeps // record_every
    return L * L * R * (sweeps * per_flip + reads * per_flip / 2)


WORK_MODEL = ("read + write every spin once per sweep in its storage format (1 bit "
              "multi-spin, 1 byte reference); counter-based random numbers: no traffic")


# ------------------------------------------------------------------------- NumPy anchor

def numpy_checkerboard_metropolis(spins: np.ndarray, beta: float, n_sweeps: int,
                                  rng: np.random.Generator) -> np.ndarray:
    """Plain NumPy checkerboard Metropolis, in place on ``int8`` spins of shape (R, L0, L1).

    Per colour: neighbour sums with ``np.roll`` (periodic), the local alignment
    :math:`s_i\\sum_j s_j \\in \\{-4,\\dots,4\\}` indexes a table of
    :math:`\\min(1, e^{-2\\beta s_i\\sum_j s_j})`, one float32 uniform per site from
    ``rng``; sites of that colour with ``u < p`` flip.
    """
    L0, L1 = spins.shape[-2:]
    parity = np.add.outer(np.arange(L0), np.arange(L1)) % 2
    colours = (parity == 0, parity == 1)
    accept = np.minimum(1.0, np.exp(-2.0 * beta * (np.arange(9) - 4))).astype(np.float32)
    u = np.empty(spins.shape, np.float32)
    for _ in range(n_sweeps):
        for colour in colours:
            local = (np.roll(spins, 1, -1) + np.roll(spins, -1, -1)
                     + np.roll(spins, 1, -2) + np.roll(spins, -1, -2))
            local *= spins
            local += 4
            rng.random(out=u, dtype=np.float32)
            flip = u < accept[local]
            flip &= colour
            np.negative(spins, out=spins, where=flip)
    return spins


def _numpy_energy_per_spin(spins: np.ndarray) -> float:
    s = spins.astype(np.float64)
    return float(-np.mean(s * np.roll(s, 1, -1) + s * np.roll(s, 1, -2)))


def _time_numpy(w: Workload, repeats: int) -> dict:
    rng = np.random.default_rng(0)
    start = np.where(rng.random((w.R, w.L, w.L)) < 0.5, 1, -1).astype(np.int8)
    seconds, spins = time_repeats(
        lambda s: numpy_checkerboard_metropolis(s, 1.0 / TEMPERATURE, w.numpy_sweeps, rng),
        lambda i: (start.copy(),), repeats)
    stats = summarize(seconds)
    return {"name": "numpy", "sweeps": w.numpy_sweeps, **stats,
            "figure": w.flips_per_ns(w.numpy_sweeps, stats["median_s"]),
            "figure_best": w.flips_per_ns(w.numpy_sweeps, stats["min_s"]),
            "energy_per_spin": _numpy_energy_per_spin(spins),
            "detail": "plain NumPy checkerboard Metropolis (np.roll, int8 spins, float32 "
                      "uniforms from np.random.Generator, exp lookup table), this file"}


# ------------------------------------------------------------------------- THRML anchor

def _thrml_unavailable(reason: str, w: Workload) -> dict:
    return {"name": "thrml", "sweeps": w.thrml_sweeps, "figure": None, "unavailable": reason}


def _time_thrml(w: Workload) -> dict:
    script = Path(os.environ.get("PHYSJAX_ANCHORS", ANCHOR_DIR)) / THRML_SCRIPT
    if not script.is_file():
        return _thrml_unavailable(f"anchor harness shared/anchors/{THRML_SCRIPT} not found "
                                  f"(expected next to the repository)", w)
    if importlib.util.find_spec("thrml") is None:
        return _thrml_unavailable("thrml is not installed (pip install -e '.[bench]')", w)
    cmd = [sys.executable, str(script), str(w.L), str(w.R), str(w.thrml_sweeps)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=THRML_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return _thrml_unavailable(f"harness timed out after {THRML_TIMEOUT_S} s", w)
    match = re.search(r"median ([0-9.eE+-]+)s flips/ns ([0-9.eE+-]+)", proc.stdout)
    if proc.returncode != 0 or match is None:
        tail = (proc.stderr.strip().splitlines() or proc.stdout.strip().splitlines()
                or ["no output"])[-1]
        return _thrml_unavailable(f"harness failed (exit {proc.returncode}): {tail[:300]}", w)
    try:
        from importlib.metadata import version

        thrml_version = version("thrml")
    except Exception:  # noqa: BLE001 - the version is informational only
        thrml_version = None
    return {"name": "thrml", "sweeps": w.thrml_sweeps, "median_s": float(match.group(1)),
            "figure": float(match.group(2)), "version": thrml_version,
            "detail": "shared/anchors/thrml_ising.py: THRML block Gibbs, R chains vmapped; "
                      "its own timing (middle of 3 after warm-up) and count "
                      "(L*L*R*(sweeps+1))"}


# ---------------------------------------------------------------------- physjax engines

def _time_multispin(w: Workload, n_sweeps: int, record_every: int, repeats: int) -> dict:
    import jax
    import jax.numpy as jnp

    import physjax.spins as ps

    model = ps.IsingLattice((w.L, w.L))
    state0 = ps.init_multispin(jax.random.key(0), model, jnp.full((w.R,), TEMPERATURE))
    jax.block_until_ready(state0)

    def call(key, state):  # prepare gives each call a fresh copy of the state
        return ps.run_multispin(key, model, state, n_sweeps, rule="metropolis",
                                record_every=record_every)

    def prepare(i):
        return jax.random.key(i + 1), jax.tree.map(jnp.copy, state0)

    seconds, (_, trace) = time_repeats(call, prepare, repeats)
    stats = summarize(seconds)
    return {**stats, "sweeps": n_sweeps, "record_every": record_every,
            "layout": "replicas" if 2 * state0.black.shape[-1] == w.L else "strips",
            "figure": w.flips_per_ns(n_sweeps, stats["median_s"]),
            "figure_best": w.flips_per_ns(n_sweeps, stats["min_s"]),
            "energy_per_spin": float(jnp.mean(trace.energy[-1, : w.R]))}


def _time_reference(w: Workload, repeats: int) -> dict:
    import jax
    import jax.numpy as jnp

    import physjax.spins as ps

    model = ps.IsingLattice((w.L, w.L))
    n = w.reference_sweeps
    keys = jax.random.split(jax.random.key(0), w.R)
    state0 = jax.vmap(lambda k: ps.init_ising(k, model, TEMPERATURE))(keys)
    run = jax.jit(jax.vmap(lambda k, s: ps.run_ising(k, model, s, n, rule="metropolis",
                                                     record_every=n)))
    seconds, (_, trace) = time_repeats(
        run, lambda i: (jax.random.split(jax.random.key(i + 1), w.R), state0), repeats)
    stats = summarize(seconds)
    return {**stats, "sweeps": n, "record_every": n,
            "figure": w.flips_per_ns(n, stats["median_s"]),
            "figure_best": w.flips_per_ns(n, stats["min_s"]),
            "energy_per_spin": float(jnp.mean(trace.energy[:, -1]))}


# ------------------------------------------------------------------------------ rows

def _with_ratios(row: dict, anchors: list[dict]) -> dict:
    row["anchors"] = [
        {**a, "ratio": (row["figure"] / a["figure"]) if a.get("figure") else None}
        for a in anchors
    ]
    return row


def run(quick: bool, repeats: int) -> list[dict]:
    """Time every engine and anchor on every workload; one row per physjax engine."""
    import jax

    backend = jax.default_backend()
    rows = []
    for w in workloads(backend, quick):
        anchors = []
        if w.numpy_sweeps is not None:
            log(f"ising {w.label}: numpy anchor, {w.numpy_sweeps} sweeps")
            anchors.append(_time_numpy(w, repeats))
        if w.thrml_sweeps is not None:
            log(f"ising {w.label}: thrml anchor, {w.thrml_sweeps} sweeps (subprocess)")
            anchors.append(_time_thrml(w))
            if anchors[-1].get("unavailable"):
                log(f"thrml unavailable: {anchors[-1]['unavailable']}")

        engines = [
            ("multispin", "record once at the end",
             lambda w=w: _time_multispin(w, w.sweeps, w.sweeps, repeats), True),
            ("multispin, observables every sweep", "record_every=1",
             lambda w=w: _time_multispin(w, w.obs_sweeps, 1, repeats), False),
        ]
        if w.reference_sweeps is not None:
            engines.append(("reference (vmap)", "jax.vmap(run_ising), record once",
                            lambda w=w: _time_reference(w, repeats), False))
        for name, note, timer, primary in engines:
            log(f"ising {w.label}: physjax {name}")
            result = timer()
            result["bytes"] = sweep_bytes(
                w.L, w.R, result["sweeps"],
                engine="reference" if name.startswith("reference") else "multispin",
                record_every=None if result.get("record_every") == result["sweeps"]
                else result.get("record_every"))
            result["work_model"] = WORK_MODEL
            row = {
                "name": name,
                "workload": w.label,
                "L": w.L,
                "R": w.R,
                "temperature": TEMPERATURE,
                "rule": "metropolis",
                "note": note,
                "unit": UNIT,
                **result,
            }
            if primary and w.target is not None:
                row["target"] = w.target
                row["target_text"] = w.target_text
                row["meets_target"] = bool(row["figure"] >= w.target and all(
                    row["figure"] > a["figure"] for a in anchors
                    if a["name"] == "thrml" and a.get("figure")))
            rows.append(_with_ratios(row, anchors))
    return rows
