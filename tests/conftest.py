"""Shared test helpers."""

import gc
import json
import os
import shutil
import tempfile

import numpy as np
import pytest

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

# The suite compiles thousands of small XLA programs that then run for microseconds, so
# compile time is most of its time.  JAX's `jax_disable_most_optimizations` (LLVM at -O0,
# no expensive LLVM passes) compiles them 2-3x faster.  A test marked `compute_bound`
# (execution, not compilation, dominates it: long Langevin or Monte Carlo runs) is compiled
# with XLA's default optimization instead, which runs such loops 2-10x faster; the switch
# is a JAX config flag read at every compile, so it changes per test (tests/conftest.py
# `pytest_runtest_protocol`).  The environment variable set here is inherited by the
# notebook kernels and CLI subprocesses the tests start; user code is not affected.
# PHYSJAX_TEST_XLA_OPT=default compiles everything with XLA's default optimization.
#
# On top of that, XLA:CPU's legacy elemental emitter (`--xla_cpu_use_fusion_emitters=false`)
# compiles the fused kernels faster than the MLIR fusion emitters: the backend compile time
# of tests/spins/test_ising_kernels.py and tests/networks/test_learning.py fell from 35.5 s
# to 22.0 s, and the compute_bound tests ran as fast as before (72.8 s vs 75.9 s).  XLA_FLAGS
# is read when the backend starts, so this holds for the whole process (and the
# subprocesses, which inherit it); a flag the user set is left as it is.
FAST_COMPILE = os.environ.get("PHYSJAX_TEST_XLA_OPT", "O0") == "O0"
if FAST_COMPILE:
    os.environ.setdefault("JAX_DISABLE_MOST_OPTIMIZATIONS", "1")
    _xla_flags = os.environ.get("XLA_FLAGS", "")
    if "xla_cpu_use_fusion_emitters" not in _xla_flags:
        os.environ["XLA_FLAGS"] = f"{_xla_flags} --xla_cpu_use_fusion_emitters=false".strip()


# Both xdist workers, the notebook kernels and the CLI/benchmark subprocesses compile many of
# the same programs.  JAX's persistent compilation cache, in one temporary folder for the
# whole run, lets each program be compiled once: the first process writes the executable,
# the others load it (the suite's summed test time fell from 1515 s to 1313 s on 2 cores).
# Every program is cached, however quick its compile.  The folder is made by the process
# that loads this file first (the xdist controller, before it starts its workers, which
# inherit the variable) and removed by it at the end.  The cache key covers the compile
# options, so `compute_bound` programs are cached apart from fast-compile ones.  A
# JAX_COMPILATION_CACHE_DIR set by the user is used as it is (and kept);
# PHYSJAX_TEST_JAX_CACHE=0 turns the cache off.
_OWN_JAX_CACHE = None
if (os.environ.get("PHYSJAX_TEST_JAX_CACHE", "1") != "0"
        and "JAX_COMPILATION_CACHE_DIR" not in os.environ):
    _OWN_JAX_CACHE = tempfile.mkdtemp(prefix="physjax-test-jax-cache-")
    os.environ["JAX_COMPILATION_CACHE_DIR"] = _OWN_JAX_CACHE
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "-1")


def pytest_unconfigure(config):
    if _OWN_JAX_CACHE is not None:
        shutil.rmtree(_OWN_JAX_CACHE, ignore_errors=True)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    """Compile a `compute_bound` test (its fixtures included) with full optimization."""
    if not (FAST_COMPILE and item.get_closest_marker("compute_bound")):
        yield
        return
    import jax

    before = jax.config.read("jax_disable_most_optimizations")
    jax.config.update("jax_disable_most_optimizations", False)
    try:
        yield
    finally:
        jax.config.update("jax_disable_most_optimizations", before)


# Run physjax under the runtime type checker (tests/typecheck.py): jaxtyping's import hook
# must be installed before the first `import physjax` anywhere in the process.
# PHYSJAX_TEST_TYPECHECK=0 turns it off.
TYPECHECK = os.environ.get("PHYSJAX_TEST_TYPECHECK", "1") != "0"
if TYPECHECK:
    from jaxtyping import install_import_hook

    import tests.typecheck  # noqa: F401  (the hook's decorator looks it up by this name)

    install_import_hook("physjax", "tests.typecheck.physjax_checker")

# Every XLA:CPU executable holds a few memory mappings (about 3 per compiled function).
# A test worker that compiles thousands of programs would reach the kernel's per-process
# limit (vm.max_map_count, 65530 by default), after which XLA's next compile segfaults.
# Drop JAX's caches whenever a worker holds more than half that many mappings.
_MAPS = "/proc/self/maps"
_MAP_LIMIT = 30_000


def _n_mappings() -> int:
    with open(_MAPS, "rb") as f:
        return sum(1 for _ in f)


@pytest.fixture(autouse=True)
def _bounded_compilation_cache():
    yield
    if os.path.exists(_MAPS) and _n_mappings() > _MAP_LIMIT:
        import jax

        jax.clear_caches()
        gc.collect()


@pytest.fixture(scope="session")
def run_quick_experiment():
    """Run a registered experiment at quick size into a fresh folder and check what every
    experiment must write: a PNG, a JSON record with the same summary, scalar summaries."""
    from physjax.experiments import run_experiment

    def run(name, tmp_path_factory, **overrides):
        out = tmp_path_factory.mktemp(name)
        result = run_experiment(name, size="quick", overrides=overrides, out_dir=out)
        assert (out / f"{name}.png").read_bytes()[:8] == PNG_MAGIC
        record = json.loads((out / f"{name}.json").read_text())
        assert record["summary"].keys() == result.summary.keys()
        assert all(np.isscalar(v) for v in result.summary.values())
        assert record["seconds"] > 0 and "seconds" not in result.summary  # timed once
        return result

    return run
