"""physjax.networks._small_linalg: Cholesky and triangular solves that never enter a batched
CPU LAPACK kernel (jaxlib 0.10's can deadlock XLA's thread pool, docs/known-issues.md),
against numpy/scipy, under jit and (nested) vmap; and network training sharded over 1, 2
and 3 CPU devices in subprocesses (it hung with 2 and 3 before)."""

from __future__ import annotations

import functools
import os
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg as sla

from physjax.networks import _small_linalg as sl

ROOT = Path(__file__).resolve().parents[2]
SIZES = (1, 3, 20, 40, 100)
FLAGS = [(left, lower, trans) for left in (True, False) for lower in (True, False)
         for trans in (False, True)]


@pytest.fixture(autouse=True)
def x64():
    with jax.enable_x64(True):
        yield


def spd(rng, shape, dtype=np.float64):
    n = shape[-1]
    a = rng.normal(size=shape)
    return (a @ np.swapaxes(a, -1, -2) + n * np.eye(n)).astype(dtype)


def close(x, ref, rtol=1e-12):
    ref = np.asarray(ref)
    np.testing.assert_allclose(np.asarray(x), ref, rtol=rtol,
                               atol=rtol * max(1.0, float(np.max(np.abs(ref)))))


def lapack_calls(fn, *args):
    """(target, operand shapes) of the LAPACK custom calls of ``jit(fn)`` lowered for CPU."""
    text = jax.jit(fn).trace(*args).lower(lowering_platforms=("cpu",)).as_text()
    return re.findall(r"custom_call @(lapack_\w+)\(.*\) .*: \((.*?)\) ->", text)


def op(a, trans):
    return np.swapaxes(a, -1, -2) if trans else a


def reference_solve(a, b, left, trans):
    """scipy: op(a) x = b (left) or x op(a) = b, one matrix at a time."""
    a2, b2 = a.reshape((-1,) + a.shape[-2:]), b.reshape((-1,) + b.shape[-2:])
    out = [sla.solve(op(m, trans), r) if left else sla.solve(op(m, trans).T, r.T).T
           for m, r in zip(a2, b2, strict=True)]
    return np.stack(out).reshape(b.shape)


# ----------------------------------------------------------------------- against numpy/scipy

@pytest.mark.parametrize("n", SIZES)
def test_cholesky_single_vmapped_and_doubly_vmapped(n):
    rng = np.random.default_rng(n)
    a = spd(rng, (3, 4, n, n))
    ref = np.linalg.cholesky(a)
    # only the lower triangle is read (symmetrize_input=False)
    junk = np.tril(a) + np.triu(rng.normal(size=a.shape), 1)

    @jax.jit  # one compilation for all the variants
    def variants(a, junk):
        return (sl.cholesky(a[0, 0]), jax.vmap(sl.cholesky)(a[0]),
                jax.vmap(jax.vmap(sl.cholesky))(a),
                sl.cholesky(a),                       # leading axes as a batch
                jax.vmap(sl.cholesky)(a),             # vmap over a batch of batches
                jax.vmap(jax.vmap(sl.cholesky))(junk))

    single, vmapped, *doubly = variants(a, junk)
    close(single, ref[0, 0])
    close(vmapped, ref[0])
    for x in doubly:
        close(x, ref)


@pytest.mark.parametrize("n", SIZES)
def test_triangular_solve_single_vmapped_and_doubly_vmapped(n):
    rng = np.random.default_rng(n)
    factor = np.linalg.cholesky(spd(rng, (3, 4, n, n)))
    b_left, b_right = rng.normal(size=(3, 4, n, 5)), rng.normal(size=(3, 4, 5, n))

    @jax.jit  # one compilation for all the flags and variants
    def variants(a_lower, b_left, b_right):
        out = {}
        for left, lower, trans in FLAGS:
            a = a_lower if lower else jnp.swapaxes(a_lower, -1, -2)
            b = b_left if left else b_right

            def f(a, b, left=left, lower=lower, trans=trans):
                return sl.triangular_solve(a, b, left_side=left, lower=lower,
                                           transpose_a=trans)

            out[left, lower, trans] = (
                f(a[0, 0], b[0, 0]), jax.vmap(f)(a[0], b[0]), jax.vmap(jax.vmap(f))(a, b),
                f(a, b),
                # one matrix, many right-hand sides; many matrices, one right-hand side
                jax.vmap(jax.vmap(f, (None, 0)), (None, 0))(a[0, 0], b),
                jax.vmap(jax.vmap(f, (0, None)), (0, None))(a, b[0, 0]))
        return out

    results = variants(factor, b_left, b_right)
    for (left, lower, trans), (single, vmapped, doubly, lead, shared_a, shared_b) in \
            results.items():
        a = factor if lower else np.swapaxes(factor, -1, -2)
        b = b_left if left else b_right
        ref = reference_solve(a, b, left, trans)
        close(single, ref[0, 0])
        close(vmapped, ref[0])
        close(doubly, ref)
        close(lead, ref)
        close(shared_a, reference_solve(np.broadcast_to(a[0, 0], a.shape), b, left, trans))
        close(shared_b, reference_solve(a, np.broadcast_to(b[0, 0], b.shape), left, trans))


def test_eager_calls():
    rng = np.random.default_rng(7)
    a = spd(rng, (2, 5, 5))
    c = np.linalg.cholesky(a)
    close(sl.cholesky(a[0]), c[0])
    close(jax.vmap(sl.cholesky)(a), c)
    close(sl.triangular_solve(c[0], a[1], left_side=True, lower=True),
          np.linalg.solve(c[0], a[1]))


@pytest.mark.parametrize("n", (1, 20))
def test_solve_triangular_and_cho_solve_like_scipy(n):
    rng = np.random.default_rng(n)
    c = np.linalg.cholesky(spd(rng, (4, n, n)))
    b = rng.normal(size=(4, n, 3))
    cases = [(trans, lower) for trans in (0, 1, "N", "T") for lower in (True, False)]

    @jax.jit
    def variants(c, b):
        out = {}
        for trans, lower in cases:
            m = c if lower else jnp.swapaxes(c, -1, -2)
            solve = functools.partial(sl.solve_triangular, lower=lower, trans=trans)
            out[f"{trans} {lower}"] = (jax.vmap(solve)(m, b),
                                       solve(m[0], b[0, :, 0]))  # a vector right side
        for lower in (True, False):
            m = c if lower else jnp.swapaxes(c, -1, -2)
            out[f"cho {lower}"] = jax.vmap(lambda x, y, lo=lower: sl.cho_solve((x, lo), y))(m, b)
        return out

    results = variants(c, b)
    for trans, lower in cases:
        m = c if lower else np.swapaxes(c, -1, -2)
        ref = np.stack([sla.solve_triangular(mi, bi, lower=lower, trans=trans)
                        for mi, bi in zip(m, b, strict=True)])
        close(results[f"{trans} {lower}"][0], ref)
        close(results[f"{trans} {lower}"][1], ref[0, :, 0])
    for lower in (True, False):
        m = c if lower else np.swapaxes(c, -1, -2)
        ref = np.stack([sla.cho_solve((mi, lower), bi) for mi, bi in zip(m, b, strict=True)])
        close(results[f"cho {lower}"], ref)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_float32_and_float64_under_jit_and_vmap(dtype):
    rng = np.random.default_rng(0)
    a = spd(rng, (2, 8, 20, 20), dtype)
    b = rng.normal(size=(2, 8, 20, 4)).astype(dtype)

    def f(a, b):
        c = sl.cholesky(a)
        return c, sl.cho_solve((c, True), b)

    c, x = jax.jit(jax.vmap(jax.vmap(f)))(a, b)
    assert c.dtype == dtype and x.dtype == dtype
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    close(c, np.linalg.cholesky(a.astype(np.float64)), rtol)
    close(x, np.linalg.solve(a.astype(np.float64), b.astype(np.float64)), 100 * rtol)


def test_not_positive_definite_gives_nan_like_lapack():
    a = np.stack([np.eye(3), -np.eye(3)])
    out = np.asarray(jax.jit(jax.vmap(sl.cholesky))(a))
    np.testing.assert_array_equal(out[0], np.eye(3))
    assert np.isnan(out[1]).any()


def _cos_sum(solve, kw):
    return lambda m, r: jnp.sum(jnp.cos(solve(m, r, **kw)))


def test_derivatives_are_those_of_the_jax_functions():
    rng = np.random.default_rng(1)
    a = spd(rng, (3, 6, 6))
    da = spd(rng, (3, 6, 6))                      # a symmetric tangent
    b = rng.normal(size=(3, 6, 2))
    _, tangent = jax.jvp(jax.vmap(sl.cholesky), (a,), (da,))
    _, expected = jax.jvp(jax.vmap(jnp.linalg.cholesky), (a,), (da,))
    close(tangent, expected)

    def loss(chol, solve):
        def f(a, b):
            c = chol(a)
            return jnp.sum(jnp.sin(solve((c, True), b))) + 0.3 * jnp.sum(c**2)
        return lambda a, b: jnp.sum(jax.vmap(f)(a, b))

    ours = jax.grad(loss(sl.cholesky, sl.cho_solve), (0, 1))(a, b)
    ref = jax.grad(loss(jnp.linalg.cholesky, jax.scipy.linalg.cho_solve), (0, 1))(a, b)
    close(ours[1], ref[1])
    # jnp.linalg.cholesky symmetrizes its input, ours reads the lower triangle: compare the
    # derivatives along symmetric directions
    np.testing.assert_allclose(np.sum(ours[0] * da), np.sum(ref[0] * da), rtol=1e-12)
    factor = np.linalg.cholesky(a)

    @jax.jit  # one compilation for all the flags
    def grads(factor, b):
        out = []
        for left, lower, trans in FLAGS:
            m = factor if lower else jnp.swapaxes(factor, -1, -2)
            r = b if left else jnp.swapaxes(b, -1, -2)
            kw = dict(left_side=left, lower=lower, transpose_a=trans)
            out.append((jax.grad(_cos_sum(sl.triangular_solve, kw), (0, 1))(m, r),
                        jax.grad(_cos_sum(jax.lax.linalg.triangular_solve, kw), (0, 1))(m, r)))
        return out

    for ours_flag, ref_flag in grads(factor, b):
        for x, y in zip(ours_flag, ref_flag, strict=True):
            close(x, y)
    # the factor of a differentiated matrix behind stop_gradient (grad must not fail)
    g = jax.grad(lambda x: jnp.sum(sl.cho_solve((jax.lax.stop_gradient(sl.cholesky(x)), True),
                                                b[0])))(a[0])
    np.testing.assert_array_equal(g, 0.0)


# ------------------------------------------------------------ no batched LAPACK on the CPU

def test_batches_are_loops_of_one_matrix_lapack_calls():
    """Under (nested) vmap and for leading axes, every CPU LAPACK call is on one matrix, and
    each result is the bits of the unbatched call (so independent of the batch size, hence
    of the number of devices an ensemble is sharded over)."""
    rng = np.random.default_rng(3)
    a = spd(rng, (2, 5, 20, 20))
    b = rng.normal(size=(2, 5, 20, 3))

    def f(a, b):
        c = sl.cholesky(a)
        inv = sl.triangular_solve(c, jnp.eye(20), left_side=True, lower=True)
        return c, inv, sl.solve_triangular(c, b, lower=True, trans="T")

    for fn, args in ((jax.vmap(jax.vmap(f)), (a, b)), (jax.vmap(f), (a[0], b[0])), (f, (a, b))):
        calls = lapack_calls(fn, *args)
        assert {name for name, _ in calls} == {"lapack_dpotrf_ffi", "lapack_dtrsm_ffi"}
        for name, shapes in calls:
            assert all(s.count("x") == 2 for s in shapes.split(", ")), (name, shapes)
    batched = jax.jit(jax.vmap(jax.vmap(f)))(a, b)
    single = jax.jit(f)
    for i, j in ((0, 0), (1, 4)):
        for x, y in zip(batched, single(a[i, j], b[i, j]), strict=True):
            assert np.asarray(x[i, j]).tobytes() == np.asarray(y).tobytes()


def test_unbatched_calls_are_the_plain_lapack_calls():
    a = spd(np.random.default_rng(4), (30, 30))
    b = np.random.default_rng(5).normal(size=(7, 30))
    assert [c[0] for c in lapack_calls(sl.cholesky, a)] == ["lapack_dpotrf_ffi"]
    ours = sl.triangular_solve(np.linalg.cholesky(a), b, left_side=False, lower=True,
                               transpose_a=True)
    plain = jax.lax.linalg.triangular_solve(np.linalg.cholesky(a), b, left_side=False,
                                            lower=True, transpose_a=True)
    assert np.asarray(ours).tobytes() == np.asarray(plain).tobytes()


# ------------------------------------- network training sharded over several CPU devices

WORKER = textwrap.dedent("""
    import sys
    import jax, jax.numpy as jnp, numpy as np
    from physjax import ensemble, graphs, networks

    n_devices, out = int(sys.argv[1]), sys.argv[2]
    assert len(jax.devices()) == n_devices, jax.devices()
    side = 10
    g = graphs.square_grid(side)
    n = g.n_nodes
    task = networks.make_task([0, n - 1], [n // 2, n // 2 + 1],
                              jnp.array([[1.0, 0.5], [0.3, -0.2]]),
                              coefficients=[[0.15, 0.3], [0.2, 0.1]], ground_nodes=[side - 1],
                              n_nodes=n)

    def fn(key, params):
        k = jax.random.uniform(key, (g.n_edges,), minval=0.5, maxval=1.5)
        res = networks.train(g, k, task, n_steps=3, learning_rate=params["lr"],
                             solver="multifrontal", check=False)
        return {"k": res.conductances, "cost": res.cost, "final": res.final_cost}

    # 24 networks: >= 8 per device, so that a batched LAPACK kernel of the leaf fronts
    # (8 x 7 fronts of 16 x 16) is split over XLA's thread pool -- what deadlocked
    result = ensemble.sweep(fn, jax.random.key(0), {"lr": jnp.array([0.05, 0.1])}, 12,
                            progress=False)
    np.savez(out, **result.values)
""")


def _env(n_devices: int) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    env["JAX_PLATFORMS"] = "cpu"
    env["OPENBLAS_NUM_THREADS"] = "1"
    flags = [f for f in env.get("XLA_FLAGS", "").split()
             if not f.startswith("--xla_force_host_platform_device_count")]
    env["XLA_FLAGS"] = " ".join([*flags, f"--xla_force_host_platform_device_count={n_devices}"])
    return env


@pytest.mark.slow
def test_training_sweep_on_1_2_3_cpu_devices_finishes_with_identical_bits(tmp_path):
    """The reproducer of the hang (networks.train in ensemble.sweep on 2 CPU devices), small:
    the three processes together took 33-39 s on a busy 2-core machine; before the fix, the
    2- and 3-device processes hung (timeout 300 s)."""
    timeout = 300.0
    procs = {}
    for n in (1, 2, 3):  # concurrently: a hung process costs no CPU
        procs[n] = subprocess.Popen(
            [sys.executable, "-c", WORKER, str(n), str(tmp_path / f"dev{n}.npz")], cwd=ROOT,
            env=_env(n), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + timeout
    failures = []
    try:
        for n, proc in procs.items():
            try:
                _, err = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                failures.append(f"{n} device(s): no result after {timeout:.0f} s (hang)")
                continue
            if proc.returncode:
                failures.append(f"{n} device(s): exit {proc.returncode}\n{err[-3000:]}")
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert not failures, "\n".join(failures)
    with np.load(tmp_path / "dev1.npz") as one:
        expected = {k: one[k] for k in one.files}
    assert expected["k"].shape[:2] == (2, 12) and np.all(np.isfinite(expected["final"]))
    for n in (2, 3):
        with np.load(tmp_path / f"dev{n}.npz") as data:
            assert sorted(data.files) == sorted(expected)
            for key, value in expected.items():
                assert data[key].dtype == value.dtype and data[key].shape == value.shape
                assert data[key].tobytes() == value.tobytes(), f"{n} devices, {key}"
