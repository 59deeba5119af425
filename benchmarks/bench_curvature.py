r"""Curvature benchmark: Hessian eigenvalues, trace and spectral density of networks trained on
scikit-learn's digits, physjax against PyHessian on the *same* model and weights.

Models (identical weights in both frameworks: trained once in JAX, exported to NumPy and
loaded into the PyTorch model of the anchor; the worker checks the loss and one HVP):

* ``MLP``: 64-512-512-10 ReLU (301,066 parameters), the PyHessian anchor's model
  (``<repo>/../shared/anchors/pyhessian_digits.py``): all 1797 images scaled to [0, 1]
  (pixel / 16), mean cross-entropy, Equinox's default initialization (uniform
  :math:`\pm 1/\sqrt{\text{fan-in}}` for weights and biases, the same law as
  ``torch.nn.Linear``), 300 full-batch Adam steps at learning rate 1e-3, float32.
* ``CNN`` (full run only): :class:`physjax.curvature.losses.DigitsCNN` (1,898 parameters) on
  the 1500 training images of ``physjax.datasets.digits_data(key(0))``, 300 Adam steps at
  1e-2; in PyTorch
  ``Conv2d(1, 8, 3, pad 1) > ReLU > AvgPool2d(2) > Conv2d(8, 16, 3, pad 1) > ReLU >
  AvgPool2d(2) > Flatten > Linear(64, 10)``.

Rows (figure = 1 / median wall time in runs/s, so the ratio physjax / anchor is a speed-up;
the ``sweeps`` column holds physjax's number of HVPs):

* ``lanczos top-1`` / ``top-5``: eigenvalues to relative accuracy 1e-3 with
  ``hessian_eigenpairs(key, f, params, k, tol=1e-3)`` (thick-restart Lanczos, default
  ``n_steps``; ``tol`` bounds the residual and so the eigenvalue error); full run also with a
  smaller Krylov space (``n_steps`` 8 for top-1, 12 for top-5) and physjax's own
  ``power_iteration`` (the same algorithm as PyHessian's).  Anchor: ``hessian.eigenvalues(
  top_n=k)``, power iteration with deflation, at its default ``tol=1e-3`` -- which stops on
  the change of the Rayleigh quotient, not on accuracy -- and, for the same accuracy, at the
  loosest tolerance of the ladder ``1e-3, 1e-4, 1e-5`` (``maxIter`` 1000 below 1e-3) at
  which every timed run is within 1e-3 of the reference; the target is judged against that
  one.  HVPs are counted on both sides (PyHessian's by wrapping its
  ``hessian_vector_product``).
* ``hutchinson``: 100 Rademacher probes, ``hutchinson_trace(..., batch_size=1)`` (vmapped
  probes were slower on a CPU) vs ``hessian.trace(maxIter=100, tol=0)``.
* ``SLQ density``: ``spectral_density`` vs ``hessian.density(iter, n_v)`` with the same runs
  and Lanczos steps (PyHessian calls ``torch.eig``, removed from PyTorch; the worker
  replaces it by ``torch.linalg.eigh`` of the tridiagonal matrix).
* ``HVP``: one Hessian-vector product (``hvp_fn``, default mode forward-over-reverse, which
  recomputes the forward pass; the other two modes are recorded) over one gradient; the
  anchor's ``hessian_vector_product`` back-propagates through the retained graph of the
  gradient.

Accuracy is measured against a reference: for the MLP (300k parameters, no dense
eigensolver) a tight thick-restart Lanczos in **float64** (``tol=1e-8``, weights and data
cast to float64) and the exact trace: for a ReLU MLP :math:`\mathrm{tr}\,H` is the trace of
the Gauss-Newton matrix (every logit is linear in each single weight between ReLU kinks, so
:math:`\partial^2 z/\partial\theta_i^2 = 0`), computed in float64 by back-propagating the
10 columns of :math:`(\mathrm{diag}\,p - pp^\top)^{1/2}`.  For the CNN: the dense float64
Hessian (1898 HVPs) and ``numpy.linalg.eigvalsh``.

Targets (issue 7): 3x PyHessian's speed at the same accuracy, fewer HVPs than its power
iteration, an HVP at most 3 gradients.  Quick run: the MLP only, 1-2 timed runs, a 40-step
SLQ, default Lanczos settings only.

The anchor needs ``pip install torch==2.13.0`` (the local CPU wheel) and ``pip install
--no-deps pyhessian`` (PyHessian declares torch as a dependency); neither is in the
``bench`` extra because torch from PyPI pulls the CUDA packages.  Without them the anchor
is recorded as unavailable, with the reason, and physjax's figures are still measured.
PyHessian runs in a subprocess of this file (``python bench_curvature.py --pyhessian-worker
IN.npz OUT.json``).  Torch threads: as many as cores (as JAX uses), unless one thread is
clearly faster for an HVP -- on a machine other processes keep busy, torch's 2-thread
OpenMP team was seen 5-17x slower than one thread; both timings are recorded.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from _harness import log, summarize, time_repeats

NAME = "curvature"
DESCRIPTION = ("Hessian of a digits MLP (301k params) and CNN: Lanczos top-1/top-5 to 1e-3, "
               "Hutchinson trace, SLQ density, HVP/gradient, vs PyHessian on the same weights")

ACCURACY = 1e-3  # relative accuracy asked of the eigenvalues
N_PROBES = 100
TOP_K = 5
TRACE_BATCH = 1  # probes one after another (lax.map): vmapped batches measured 2-3x slower
#                 on a 2-core CPU (MLP and CNN)
WORKER_TIMEOUT_S = 1800
INSTALL_HINT = ("pip install torch==2.13.0 (local CPU wheel; not in the bench extra because "
                "torch from PyPI pulls CUDA) and pip install --no-deps pyhessian")


@dataclass(frozen=True)
class Workload:
    """One model and how much of each task to run on it."""

    model: str  # "mlp" or "cnn"
    train_steps: int
    learning_rate: float
    slq_runs: int
    slq_steps: int
    pyhessian_tols: tuple[float, ...]  # ladder searched for PyHessian's matched accuracy
    small_krylov: tuple[tuple[int, int], ...]  # extra Lanczos rows: (k, n_steps)
    power_iteration: bool  # also time physjax's own power iteration (same algorithm)
    runs: int  # cap on physjax's timed runs per figure (after one warm-up call)
    anchor_runs: int  # cap on PyHessian's timed runs per figure (multi-second each)


def workloads(quick: bool) -> list[Workload]:
    """Full: the MLP and the CNN; quick: the MLP only, fewer runs, a short SLQ, default
    Lanczos settings only."""
    if quick:
        return [Workload("mlp", 300, 1e-3, 1, 40, (1e-3, 1e-4), (), False, 2, 1)]
    full = dict(slq_runs=1, slq_steps=80, pyhessian_tols=(1e-3, 1e-4, 1e-5),
                small_krylov=((1, 8), (TOP_K, 12)), power_iteration=True, runs=5,
                anchor_runs=3)
    return [Workload("mlp", 300, 1e-3, **full), Workload("cnn", 300, 1e-2, **full)]


# ----------------------------------------------------------------------------- problems

@dataclass
class Problem:
    label: str
    f: Any  # ParameterLoss: params -> mean cross-entropy (float32)
    params: Any
    n_params: int
    loss: float
    x: np.ndarray  # inputs as the torch model takes them
    y: np.ndarray
    leaves: list  # parameter arrays in flat order (= torch's model.parameters() order)
    ref_top: np.ndarray  # TOP_K largest eigenvalues, descending (float64)
    ref_trace: float
    ref_note: str
    ref_spectrum: np.ndarray | None = None  # all eigenvalues when the dense Hessian is known


def _to_float64(tree):
    import equinox as eqx
    import jax
    import jax.numpy as jnp

    return jax.tree.map(lambda a: a.astype(jnp.float64) if eqx.is_inexact_array(a) else a,
                        tree)


def _mlp_exact_trace(model, x, y) -> float:
    r"""Exact :math:`\mathrm{tr}\,H` of the mean cross-entropy of a ReLU ``eqx.nn.MLP``.

    :math:`\mathrm{tr}\,H = \frac1N\sum_n\sum_c\sum_l \|\delta_{l,n,c}\|^2(\|h_{l-1,n}\|^2+1)`
    where :math:`\delta_{l,n,c}` back-propagates :math:`u_c = \sqrt{p_c}(e_c - p)` (the
    columns of a square root of :math:`\mathrm{diag}\,p - pp^\top`) to the pre-activations
    of layer :math:`l` and :math:`h_{l-1}` is that layer's input.  The Hessian's diagonal is
    the Gauss-Newton diagonal because the logits are linear in each single weight between
    the ReLU kinks.  Runs in the dtype of ``model``.
    """
    import jax
    import jax.numpy as jnp

    weights = [layer.weight for layer in model.layers]
    biases = [layer.bias for layer in model.layers]
    inputs, masks, h = [x], [], x
    for W, b in zip(weights[:-1], biases[:-1], strict=True):
        a = h @ W.T + b
        masks.append(a > 0)
        h = jnp.maximum(a, 0)
        inputs.append(h)
    z = h @ weights[-1].T + biases[-1]
    p = jax.nn.softmax(z, axis=-1)
    n_classes = z.shape[-1]
    delta = jnp.sqrt(p)[:, :, None] * (jnp.eye(n_classes, dtype=z.dtype)[None] - p[:, None, :])
    total = jnp.zeros((), z.dtype)
    for layer in reversed(range(len(weights))):
        col = jnp.sum(delta**2, axis=-1)  # (N, classes)
        total = total + jnp.sum(col * (jnp.sum(inputs[layer] ** 2, axis=-1) + 1)[:, None])
        if layer > 0:
            delta = (delta @ weights[layer]) * masks[layer - 1][:, None, :]
    return float(total / x.shape[0])


def _leaves(params) -> list[np.ndarray]:
    import jax

    return [np.asarray(a) for a in jax.tree.leaves(params)]


def _mlp_problem(w: Workload) -> Problem:
    import equinox as eqx
    import jax
    import jax.numpy as jnp
    from sklearn.datasets import load_digits

    import physjax.curvature as pc
    from physjax.curvature.losses import cross_entropy_loss, loss_of_parameters, train

    digits = load_digits()
    x = jnp.asarray(digits.data / 16.0, jnp.float32)
    y = jnp.asarray(digits.target, jnp.int32)
    model = eqx.nn.MLP(64, 10, 512, 2, activation=jax.nn.relu, key=jax.random.key(0))
    t0 = time.perf_counter()
    model, _ = train(model, cross_entropy_loss, (x, y), n_steps=w.train_steps,
                     learning_rate=w.learning_rate)
    f, params = loss_of_parameters(cross_entropy_loss, model, x, y)
    loss = float(f(params))
    log(f"curvature MLP: trained {w.train_steps} Adam steps in {time.perf_counter() - t0:.1f} s,"
        f" loss {loss:.3g}; float64 reference (Lanczos tol 1e-8, exact trace)")
    t0 = time.perf_counter()
    with jax.enable_x64(True):
        model64 = _to_float64(model)
        x64 = jnp.asarray(np.asarray(x), jnp.float64)
        f64, p64 = loss_of_parameters(cross_entropy_loss, model64, x64, y)
        ref = pc.hessian_eigenpairs(jax.random.key(12345), f64, p64, k=TOP_K, tol=1e-8,
                                    n_steps=40, max_restarts=100)
        ref_top = np.asarray(ref.eigenvalues, np.float64)
        residuals, ref_hvps = np.asarray(ref.residuals, np.float64), int(ref.n_matvecs)
        if not bool(np.all(np.asarray(ref.converged))):
            raise RuntimeError(f"float64 reference Lanczos did not converge: residuals "
                               f"{residuals}")
        ref_trace = _mlp_exact_trace(model64, x64, y)
    note = (f"float64 thick-restart Lanczos, tol 1e-8 (residuals <= "
            f"{residuals.max():.1e}, {ref_hvps} HVPs); exact float64 "
            f"trace (Gauss-Newton diagonal, equal to the Hessian's for a ReLU MLP)")
    log(f"curvature MLP: reference in {time.perf_counter() - t0:.1f} s: top-{TOP_K} "
        f"{np.round(ref_top, 5).tolist()}, trace {ref_trace:.6g}")
    n = sum(a.size for a in jax.tree.leaves(params))
    return Problem(f"MLP 64-512-512-10 ({n:,} params)", f, params, n, loss,
                   np.asarray(x), np.asarray(y), _leaves(params), ref_top, ref_trace, note)


def _dense_hessian_eigenvalues(f, params, chunk: int = 128) -> np.ndarray:
    """All eigenvalues of the dense Hessian, built from HVPs on the unit vectors (float64
    when x64 is on; one HVP after another, which is faster on a CPU than vmapped batches)
    and diagonalized by NumPy with one BLAS thread (spinning OpenBLAS workers would slow the
    JAX timings that follow)."""
    import jax
    import jax.numpy as jnp

    import physjax.curvature as pc

    mv = jax.jit(lambda e: jax.lax.map(pc.hvp_fn(f, params, flat=True), e))
    n = sum(a.size for a in jax.tree.leaves(params))
    dtype = jax.tree.leaves(params)[0].dtype
    cols = []
    for start in range(0, n, chunk):
        e = jnp.zeros((chunk, n), dtype).at[jnp.arange(chunk), start + jnp.arange(chunk)].set(
            1.0, mode="drop")
        cols.append(np.asarray(mv(e))[: min(chunk, n - start)])
    H = np.concatenate(cols)
    H = 0.5 * (H + H.T)
    try:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1):
            return np.linalg.eigvalsh(H)
    except ImportError:
        return np.linalg.eigvalsh(H)


def _cnn_problem(w: Workload) -> Problem:
    import jax
    import jax.numpy as jnp

    from physjax.curvature.losses import (
        DigitsCNN,
        cross_entropy_loss,
        loss_of_parameters,
        train,
    )
    from physjax.datasets import digits_data

    data = digits_data(jax.random.key(0))
    x, y = data.x_train.astype(jnp.float32), data.y_train
    model = DigitsCNN(jax.random.key(1))
    t0 = time.perf_counter()
    model, _ = train(model, cross_entropy_loss, (x, y), n_steps=w.train_steps,
                     learning_rate=w.learning_rate)
    f, params = loss_of_parameters(cross_entropy_loss, model, x, y)
    loss = float(f(params))
    log(f"curvature CNN: trained {w.train_steps} Adam steps in {time.perf_counter() - t0:.1f} s,"
        f" loss {loss:.3g}; dense float64 Hessian")
    t0 = time.perf_counter()
    with jax.enable_x64(True):
        f64, p64 = loss_of_parameters(cross_entropy_loss, _to_float64(model),
                                      jnp.asarray(np.asarray(x), jnp.float64), y)
        spectrum = _dense_hessian_eigenvalues(f64, p64)
    ref_top = spectrum[::-1][:TOP_K].copy()
    log(f"curvature CNN: dense spectrum in {time.perf_counter() - t0:.1f} s: top-{TOP_K} "
        f"{np.round(ref_top, 5).tolist()}, trace {spectrum.sum():.6g}")
    n = spectrum.size
    leaves = _leaves(params)
    return Problem(f"CNN DigitsCNN ({n:,} params)", f, params, n, loss, np.asarray(x),
                   np.asarray(y), leaves, ref_top, float(spectrum.sum()),
                   "dense float64 Hessian (HVPs on unit vectors) and numpy.linalg.eigvalsh",
                   spectrum)


# ------------------------------------------------------------------------- work counts

HVP_WORK_MODEL = ("matrix products of Pearlmutter's R-operator (forward-over-reverse HVP) "
                  "per sample: forward 2W, tangent forward 4W, backward 4W, tangent "
                  "backward 8W, less the input layer's unneeded terms (W = weights of a "
                  "layer); biases and activations not counted")


def mlp_hvp_flops(weight_shapes, n_samples: int) -> float:
    """Floating-point operations of one Hessian-vector product (forward-over-reverse) of a
    dense MLP with weight matrices of the given shapes, over ``n_samples`` inputs: per layer
    of W weights, forward ``a = W x`` (2W), tangent forward ``W dx + V x`` (4W; 2W at the
    input layer, where dx = 0), weight gradient ``delta x^T`` (2W), back-propagated
    ``W^T delta`` (2W, not at the input layer), tangent of the weight gradient
    ``d(delta) x^T + delta dx^T`` (4W; 2W at the input layer) and of the back-propagation
    ``W^T d(delta) + V^T delta`` (4W, not at the input layer): 18 W per sample for a hidden
    layer, 8 W for the input layer.  Bias and elementwise work is not counted, so this is a
    lower bound."""
    sizes = [int(np.prod(s)) for s in weight_shapes]
    return float(n_samples * (8 * sizes[0] + 18 * sum(sizes[1:])))


def mlp_gradient_flops(weight_shapes, n_samples: int) -> float:
    """Forward (2W), weight gradient (2W) and back-propagation (2W, not at the input
    layer) per sample."""
    sizes = [int(np.prod(s)) for s in weight_shapes]
    return float(n_samples * (4 * sizes[0] + 6 * sum(sizes[1:])))


def hvp_flops(p) -> tuple[float, str]:
    """(flops of one HVP, how they were counted) for a :class:`Problem`: the formula above
    for the MLP, XLA's cost analysis of the compiled HVP otherwise (the CNN's convolutions)."""
    if p.label.startswith("MLP"):
        shapes = [a.shape for a in p.leaves if a.ndim == 2]
        return mlp_hvp_flops(shapes, p.x.shape[0]), HVP_WORK_MODEL
    import jax

    import physjax.curvature as pc

    v = jax.tree.map(lambda a: a, p.params)
    cost = jax.jit(pc.hvp_fn(p.f, p.params)).lower(v).compile().cost_analysis()
    if isinstance(cost, list):
        cost = cost[0] if cost else {}
    return float(cost.get("flops", 0.0)) or None, "XLA cost analysis of the compiled HVP"


# ------------------------------------------------------------------------- physjax side

def _timed(fn, keys_from: int, runs: int) -> tuple[list[float], list]:
    """Warm-up call (compilation) then ``runs`` timed calls of ``fn(key)`` with fresh keys;
    returns (seconds, outputs of the timed calls)."""
    import jax

    jax.block_until_ready(fn(jax.random.key(keys_from)))
    seconds, outs = [], []
    for i in range(runs):
        key = jax.block_until_ready(jax.random.key(keys_from + 1 + i))
        t0 = time.perf_counter()
        out = jax.block_until_ready(fn(key))
        seconds.append(time.perf_counter() - t0)
        outs.append(out)
    return seconds, outs


def _rel_err(values, ref) -> float:
    v = np.sort(np.asarray(values, np.float64))[::-1]
    return float(np.max(np.abs(v - ref[: v.size]) / np.abs(ref[: v.size])))


def _physjax_eigen(p: Problem, k: int, runs: int, n_steps: int | None = None) -> dict:
    import physjax.curvature as pc

    t0 = time.perf_counter()
    seconds, outs = _timed(lambda key: pc.hessian_eigenpairs(key, p.f, p.params, k=k,
                                                             tol=ACCURACY, n_steps=n_steps),
                           100, runs)
    hvps = [int(o.n_matvecs) for o in outs]
    errs = [_rel_err(o.eigenvalues, p.ref_top) for o in outs]
    return {**summarize(seconds), "first_call_s": time.perf_counter() - t0 - sum(seconds),
            "n_hvps": int(np.median(hvps)), "hvps_all": hvps, "max_rel_err": max(errs),
            "rel_errs": errs, "converged": all(bool(np.all(o.converged)) for o in outs),
            "eigenvalues": np.asarray(outs[-1].eigenvalues, np.float64).tolist(),
            "call": f"hessian_eigenpairs(key, f, params, k={k}, tol={ACCURACY:g}"
                    + (f", n_steps={n_steps})" if n_steps else ") (default n_steps)")
                    + " in float32"}


def _physjax_power(p: Problem, k: int, runs: int) -> dict:
    import physjax.curvature as pc

    seconds, outs = _timed(lambda key: pc.power_iteration(key, p.f, p.params, k=k,
                                                          tol=ACCURACY), 200, runs)
    hvps = [int(o.n_matvecs) for o in outs]
    errs = [_rel_err(o.eigenvalues, p.ref_top) for o in outs]
    return {**summarize(seconds), "n_hvps": int(np.median(hvps)), "hvps_all": hvps,
            "max_rel_err": max(errs), "rel_errs": errs,
            "call": f"power_iteration(key, f, params, k={k}, tol={ACCURACY:g}) (n_iter 100)"}


def _physjax_trace(p: Problem, runs: int) -> dict:
    import physjax.curvature as pc

    seconds, outs = _timed(lambda key: pc.hutchinson_trace(key, p.f, p.params, N_PROBES,
                                                           batch_size=TRACE_BATCH), 300, runs)
    est = [float(o.estimate) for o in outs]
    se = [float(o.standard_error) for o in outs]
    return {**summarize(seconds), "n_hvps": N_PROBES, "estimates": est, "standard_errors": se,
            "z_scores": [(e - p.ref_trace) / s for e, s in zip(est, se, strict=True)],
            "rel_err_median": float(np.median(np.abs(np.array(est) / p.ref_trace - 1))),
            "call": f"hutchinson_trace(key, f, params, {N_PROBES}, batch_size={TRACE_BATCH})"}


def _slq_accuracy(nodes, weights, p: Problem) -> dict:
    nodes, weights = np.asarray(nodes, np.float64), np.asarray(weights, np.float64)
    out = {"top_node_rel_err": float(abs(nodes.max() / p.ref_top[0] - 1)),
           "trace_rel_err": float(np.mean(np.sum(weights * nodes, axis=1)) * p.n_params
                                  / p.ref_trace - 1)}
    if p.ref_spectrum is not None:  # L1 distance of the broadened densities (same sigma)
        lo, hi = p.ref_spectrum.min(), p.ref_spectrum.max()
        sigma = 0.01 * (hi - lo)
        grid = np.linspace(lo - 5 * sigma, hi + 5 * sigma, 2000)

        def broadened(t, w):
            return np.sum(w[None] * np.exp(-0.5 * ((grid[:, None] - t[None]) / sigma) ** 2),
                          axis=1) / (np.sqrt(2 * np.pi) * sigma)

        exact = broadened(p.ref_spectrum, np.full(p.ref_spectrum.size, 1 / p.ref_spectrum.size))
        est = broadened(nodes.ravel(), weights.ravel() / nodes.shape[0])
        out["density_l1"] = float(np.sum(np.abs(est - exact)) * (grid[1] - grid[0]))
    return out


def _physjax_slq(p: Problem, w: Workload, runs: int) -> dict:
    import physjax.curvature as pc

    seconds, outs = _timed(lambda key: pc.spectral_density(key, p.f, p.params,
                                                           n_runs=w.slq_runs,
                                                           n_steps=w.slq_steps), 400, runs)
    return {**summarize(seconds), "n_hvps": w.slq_runs * w.slq_steps,
            **_slq_accuracy(outs[-1].nodes, outs[-1].weights, p),
            "call": f"spectral_density(key, f, params, n_runs={w.slq_runs}, "
                    f"n_steps={w.slq_steps})"}


def _physjax_hvp_grad(p: Problem, repeats: int) -> dict:
    """One HVP in each AD mode (the default, fwd-rev, is the figure) and one gradient."""
    import jax

    import physjax.curvature as pc

    v = jax.tree.map(lambda a, k: jax.random.normal(k, a.shape, a.dtype), p.params,
                     _split_like(jax.random.key(7), p.params))
    n = max(repeats, 10)
    t_grad, _ = time_repeats(jax.jit(jax.grad(p.f)), lambda i: (p.params,), n)
    s_grad = summarize(t_grad)
    modes, hv = {}, None
    for mode in typing.get_args(pc.HVPMode):
        t_hvp, out = time_repeats(pc.hvp_fn(p.f, p.params, mode=mode), lambda i: (v,), n)
        modes[mode] = {"median_s": summarize(t_hvp)["median_s"],
                       "over_gradient": summarize(t_hvp)["median_s"] / s_grad["median_s"]}
        if mode == typing.get_args(pc.HVPMode)[0]:
            s_hvp, hv = summarize(t_hvp), out
    return {**s_hvp, "gradient": s_grad,
            "hvp_over_gradient": s_hvp["median_s"] / s_grad["median_s"], "modes": modes,
            "probe": v, "hv": hv,
            "call": "hvp_fn(f, params) (default mode fwd-rev: jvp of grad, recomputing the "
                    "forward pass) vs jax.jit(jax.grad(f)); other modes in 'modes'"}


def _split_like(key, tree):
    import jax

    treedef = jax.tree.structure(tree)
    return jax.tree.unflatten(treedef, list(jax.random.split(key, treedef.num_leaves)))


# ------------------------------------------------------------------------ PyHessian side

def _pyhessian_unavailable() -> str | None:
    for module in ("torch", "pyhessian"):
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed ({INSTALL_HINT})"
    return None


def _run_pyhessian(p: Problem, w: Workload, runs: int, probe_flat: np.ndarray) -> dict:
    """Run the anchor in a subprocess; returns its JSON, or {"unavailable": reason}."""
    reason = _pyhessian_unavailable()
    if reason:
        return {"unavailable": reason}
    with tempfile.TemporaryDirectory(prefix="physjax-curvature-") as tmp:
        inp, out = Path(tmp) / "in.npz", Path(tmp) / "out.json"
        config = {"model": w.model, "runs": runs, "tols": list(w.pyhessian_tols),
                  "top_k": TOP_K, "accuracy": ACCURACY, "n_probes": N_PROBES,
                  "slq_runs": w.slq_runs, "slq_steps": w.slq_steps,
                  "threads": os.cpu_count() or 1}
        np.savez(inp, x=p.x, y=p.y, ref_top=p.ref_top, probe=probe_flat,
                 config=np.array(json.dumps(config)),
                 **{f"param_{i}": a for i, a in enumerate(p.leaves)})
        cmd = [sys.executable, str(Path(__file__).resolve()), "--pyhessian-worker",
               str(inp), str(out)]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True,
                                  timeout=WORKER_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            return {"unavailable": f"PyHessian worker timed out after {WORKER_TIMEOUT_S} s"}
        if proc.returncode != 0 or not out.is_file():
            lines = (proc.stderr.strip().splitlines() or proc.stdout.strip().splitlines()
                     or ["no output"])
            return {"unavailable": f"PyHessian worker failed (exit {proc.returncode}): "
                                   f"{lines[-1][:300]}"}
        result = json.loads(out.read_text())
        hv = np.load(Path(tmp) / "hv.npy")
    result["hv"] = hv
    return result


def _pyhessian_worker(inp: str, out: str) -> None:
    """Subprocess entry: PyHessian on the model whose weights the parent exported."""
    import torch
    from pyhessian import hessian

    ph = sys.modules["pyhessian.hessian"]
    data = np.load(inp)
    cfg = json.loads(str(data["config"]))
    torch.manual_seed(0)
    torch.set_num_threads(cfg["threads"])
    nn = torch.nn
    if cfg["model"] == "mlp":
        model = nn.Sequential(nn.Linear(64, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(),
                              nn.Linear(512, 10))
    else:
        model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
                              nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
                              nn.Flatten(), nn.Linear(64, 10))
    params = list(model.parameters())
    with torch.no_grad():
        for i, t in enumerate(params):
            a = data[f"param_{i}"]
            if a.size != t.numel():
                raise ValueError(f"parameter {i}: {a.shape} does not fit {tuple(t.shape)}")
            t.copy_(torch.from_numpy(np.ascontiguousarray(a, np.float32)).reshape(t.shape))
    x = torch.from_numpy(np.ascontiguousarray(data["x"], np.float32))
    y = torch.from_numpy(np.asarray(data["y"], np.int64))
    crit = nn.CrossEntropyLoss()
    ref_top = np.asarray(data["ref_top"], np.float64)
    res: dict[str, Any] = {"torch": torch.__version__}
    import warnings

    warnings.filterwarnings("ignore", message="Using backward\\(\\) with create_graph")
    t0 = time.perf_counter()
    H = hessian(model, crit, data=(x, y), cuda=False)
    res["setup_s"] = time.perf_counter() - t0
    with torch.no_grad():
        res["loss"] = float(crit(model(x), y))

    count = [0]
    hvp_orig = ph.hessian_vector_product

    def counted(*args):
        count[0] += 1
        return hvp_orig(*args)

    ph.hessian_vector_product = counted

    def timed(fn):
        count[0] = 0
        t = time.perf_counter()
        value = fn()
        return time.perf_counter() - t, count[0], value

    # the same Hessian: H v for the parent's probe, and the loss
    probe = torch.from_numpy(np.asarray(data["probe"], np.float32))
    v = [c.reshape(t.shape) for c, t in zip(torch.split(probe, [t.numel() for t in params]),
                                            params, strict=True)]
    hv = hvp_orig(H.gradsH, H.params, v)
    np.save(Path(out).parent / "hv.npy", torch.cat([h.reshape(-1) for h in hv]).numpy())

    # threads: as many as cores, like JAX; but on a machine that other processes keep busy
    # torch's OpenMP team can be several times slower with 2 threads than with 1 (seen
    # here: 250 ms vs 53 ms per HVP), so the anchor runs with whichever is faster for HVPs
    calibration = {}
    for threads in sorted({cfg["threads"], 1}, reverse=True):
        torch.set_num_threads(threads)
        calibration[threads] = float(np.median(
            [timed(lambda: hvp_orig(H.gradsH, H.params, v))[0] for _ in range(6)][1:]))
    best = min(calibration, key=calibration.get)
    if calibration[best] > 0.8 * calibration[cfg["threads"]]:
        best = cfg["threads"]  # no clear gain: keep all cores
    torch.set_num_threads(best)
    res["threads"], res["thread_calibration_hvp_s"] = best, calibration

    n_time = max(cfg["runs"], 10)
    t_hvp = [timed(lambda: hvp_orig(H.gradsH, H.params, v))[0] for _ in range(n_time + 1)][1:]

    def gradient():
        model.zero_grad()
        crit(model(x), y).backward()

    t_grad = [timed(gradient)[0] for _ in range(n_time + 1)][1:]
    res["hvp_s"], res["gradient_s"] = t_hvp, t_grad

    def rel_err(values):
        vals = np.sort(np.asarray(values, np.float64))[::-1]
        return float(np.max(np.abs(vals - ref_top[: vals.size]) / np.abs(ref_top[: vals.size])))

    res["eigen"] = {}
    for k in (1, cfg["top_k"]):
        ladder = []
        for tol in cfg["tols"]:
            max_iter = 100 if tol >= 1e-3 else 1000
            runs = [timed(lambda k=k, tol=tol, m=max_iter: H.eigenvalues(maxIter=m, tol=tol,
                                                                        top_n=k)[0])
                    for _ in range(cfg["runs"])]
            ladder.append({"tol": tol, "max_iter": max_iter, "seconds": [r[0] for r in runs],
                           "hvps": [r[1] for r in runs],
                           "rel_errs": [rel_err(r[2]) for r in runs],
                           "eigenvalues": [float(e) for e in runs[-1][2]]})
            if max(ladder[-1]["rel_errs"]) <= cfg["accuracy"]:
                break
        res["eigen"][str(k)] = ladder

    traces = [timed(lambda: H.trace(maxIter=cfg["n_probes"], tol=0.0)) for _ in range(cfg["runs"])]
    res["trace"] = {"seconds": [t[0] for t in traces], "hvps": [t[1] for t in traces],
                    "estimates": [float(np.mean(t[2])) for t in traces],
                    "standard_errors": [float(np.std(t[2], ddof=1) / np.sqrt(len(t[2])))
                                        for t in traces]}

    def eig_shim(T, eigenvectors=False):  # torch.eig was removed from PyTorch (>= 1.9 API)
        w, V = torch.linalg.eigh(T)
        return torch.stack([w, torch.zeros_like(w)], 1), V

    torch.eig = eig_shim
    dens = [timed(lambda: H.density(iter=cfg["slq_steps"], n_v=cfg["slq_runs"]))
            for _ in range(cfg["runs"])]
    res["density"] = {"seconds": [d[0] for d in dens], "hvps": [d[1] for d in dens],
                      "nodes": [[float(t) for t in run] for run in dens[-1][2][0]],
                      "weights": [[float(t) for t in run] for run in dens[-1][2][1]]}
    Path(out).write_text(json.dumps(res))


# ------------------------------------------------------------------------------ rows

def _rate_row(name, p: Problem, workload: str, physjax: dict, anchors: list[dict],
              target_anchor: dict | None, target_text: str, extra_ok: bool = True) -> dict:
    """Row whose figure is 1 / median seconds (a rate), anchors likewise, ratio = speed-up."""
    figure = 1.0 / physjax["median_s"]
    row = {"name": name, "workload": f"{p.label}: {workload}", "sweeps": physjax.get("n_hvps"),
           "unit": "runs/s", "figure": figure, **physjax}
    row["anchors"] = [{**a, "ratio": figure / a["figure"] if a.get("figure") else None}
                      for a in anchors]
    if target_anchor is not None and target_anchor.get("figure"):
        row["target"] = 3.0 * target_anchor["figure"]
        row["target_text"] = target_text
        row["meets_target"] = bool(figure >= row["target"] and extra_ok)
    return row


def _anchor_from_runs(name: str, seconds: list[float], **extra) -> dict:
    s = summarize(seconds)
    return {"name": name, **s, "figure": 1.0 / s["median_s"], **extra}


def _unavailable(name: str, reason: str) -> dict:
    return {"name": name, "figure": None, "unavailable": reason}


def _eigen_anchors(ph: dict, k: int) -> tuple[list[dict], dict | None]:
    """PyHessian at its default tolerance and at the matched accuracy (or why not)."""
    if "unavailable" in ph:
        return [_unavailable("pyhessian", ph["unavailable"])], None
    ladder = ph["eigen"][str(k)]

    def anchor(entry, label):
        return _anchor_from_runs(
            label, entry["seconds"], tol=entry["tol"], max_iter=entry["max_iter"],
            n_hvps=int(np.median(entry["hvps"])), hvps_all=entry["hvps"],
            max_rel_err=max(entry["rel_errs"]), rel_errs=entry["rel_errs"],
            eigenvalues=entry["eigenvalues"])

    default = anchor(ladder[0], f"pyhessian tol {ladder[0]['tol']:.0e}")
    met = [e for e in ladder if max(e["rel_errs"]) <= ACCURACY]
    if not met:
        last = ladder[-1]
        return [default, _unavailable(
            "pyhessian at 1e-3 accuracy",
            f"no tolerance down to {last['tol']:g} reached relative accuracy {ACCURACY:g} "
            f"in every run (max error {max(last['rel_errs']):.2g})")], None
    if met[0] is ladder[0]:
        return [default], default
    matched = anchor(met[0], f"pyhessian tol {met[0]['tol']:.0e} (1e-3 accurate)")
    return [default, matched], matched


def _rows_for(p: Problem, w: Workload, runs: int, repeats: int) -> list[dict]:
    import jax

    from physjax.curvature import flatten

    log(f"curvature {w.model}: physjax HVP and gradient")
    hg = _physjax_hvp_grad(p, repeats)
    probe_flat = np.asarray(flatten(hg.pop("probe"))[0])
    hv_jax = np.asarray(flatten(hg.pop("hv"))[0])
    eig = {}
    for k, n_steps in [(1, None), (TOP_K, None), *w.small_krylov]:
        log(f"curvature {w.model}: physjax Lanczos top-{k}, n_steps {n_steps or 'default'} "
            f"(compile + {runs} runs)")
        eig[k, n_steps] = _physjax_eigen(p, k, runs, n_steps)
    power = None
    if w.power_iteration:
        log(f"curvature {w.model}: physjax power iteration top-{TOP_K}")
        power = _physjax_power(p, TOP_K, runs)
    log(f"curvature {w.model}: physjax Hutchinson, {N_PROBES} probes")
    trace = _physjax_trace(p, runs)
    log(f"curvature {w.model}: physjax SLQ, {w.slq_runs} x {w.slq_steps} steps")
    slq = _physjax_slq(p, w, runs)

    anchor_runs = max(1, min(runs, w.anchor_runs))
    log(f"curvature {w.model}: PyHessian (subprocess, {anchor_runs} runs per figure)")
    t0 = time.perf_counter()
    ph = _run_pyhessian(p, w, anchor_runs, probe_flat)
    if "unavailable" in ph:
        log(f"pyhessian unavailable: {ph['unavailable']}")
    else:
        log(f"curvature {w.model}: PyHessian done in {time.perf_counter() - t0:.0f} s")
        hv_diff = float(np.linalg.norm(ph.pop("hv") - hv_jax) / np.linalg.norm(hv_jax))
        ph["same_hessian"] = {"loss_physjax": p.loss, "loss_torch": ph["loss"],
                              "hv_rel_diff": hv_diff}

    flops_hvp, work_model = hvp_flops(p)
    log(f"curvature {w.model}: {flops_hvp / 1e9:.3g} GFLOP per HVP ({work_model[:40]}...)")
    rows = []
    base = {"model": w.model, "n_params": p.n_params, "reference": p.ref_note,
            "ref_top": p.ref_top.tolist(), "ref_trace": p.ref_trace, "loss": p.loss,
            "backend": jax.default_backend()}
    if "same_hessian" in ph:
        base["same_hessian"] = ph["same_hessian"]
        base["anchor_detail"] = (
            f"PyHessian 0.1 on torch {ph['torch']} (CPU, float32, {ph['threads']} thread(s); "
            f"HVP seconds by thread count {ph['thread_calibration_hvp_s']}), same weights, "
            f"subprocess; HVPs counted by wrapping pyhessian's hessian_vector_product")

    for (k, n_steps), r in eig.items():
        anchors, matched = _eigen_anchors(ph, k)
        fewer = matched is not None and r["n_hvps"] < matched["n_hvps"]
        ok = r["max_rel_err"] <= ACCURACY and fewer
        name = f"lanczos top-{k}" + (f", n_steps={n_steps}" if n_steps else "")
        rows.append({**base, **_rate_row(
            name, p, f"top-{k} eigenvalues to rel. 1e-3", r, anchors, matched,
            "3x PyHessian's speed at the same accuracy (1e-3), fewer HVPs, error <= 1e-3",
            ok)})
    if power is not None:
        anchors, _ = _eigen_anchors(ph, TOP_K)
        rows.append({**base, **_rate_row("power iteration top-5", p,
                                         "top-5, tol 1e-3 (same algorithm as PyHessian)",
                                         power, anchors[:1], None, "")})

    if "unavailable" in ph:
        tr_anchor = slq_anchor = hvp_anchor = _unavailable("pyhessian", ph["unavailable"])
    else:
        t = ph["trace"]
        est = np.asarray(t["estimates"])
        tr_anchor = _anchor_from_runs(
            "pyhessian", t["seconds"], n_hvps=int(np.median(t["hvps"])),
            estimates=t["estimates"], standard_errors=t["standard_errors"],
            rel_err_median=float(np.median(np.abs(est / p.ref_trace - 1))))
        d = ph["density"]
        slq_anchor = _anchor_from_runs("pyhessian", d["seconds"],
                                       n_hvps=int(np.median(d["hvps"])),
                                       **_slq_accuracy(d["nodes"], d["weights"], p))
        s_hvp, s_grad = summarize(ph["hvp_s"]), summarize(ph["gradient_s"])
        hvp_anchor = {"name": "pyhessian", **s_hvp, "figure": 1.0 / s_hvp["median_s"],
                      "gradient": s_grad,
                      "hvp_over_gradient": s_hvp["median_s"] / s_grad["median_s"]}
    rows.append({**base, **_rate_row(
        "hutchinson", p, f"trace, {N_PROBES} Rademacher probes", trace, [tr_anchor],
        tr_anchor if tr_anchor.get("figure") else None, "3x PyHessian's speed, same probes")})
    rows.append({**base, **_rate_row(
        "SLQ density", p, f"SLQ, {w.slq_runs} runs x {w.slq_steps} Lanczos steps", slq,
        [slq_anchor], slq_anchor if slq_anchor.get("figure") else None,
        "3x PyHessian's speed, same runs and steps")})

    hvp_row = {**base, "name": "HVP", "workload": f"{p.label}: one HVP (target <= 3 gradients)",
               "unit": "HVP/s", "figure": 1.0 / hg["median_s"], **hg}
    hvp_row["anchors"] = [{**hvp_anchor, "ratio": hvp_row["figure"] / hvp_anchor["figure"]
                           if hvp_anchor.get("figure") else None}]
    hvp_row["target"] = 1.0 / (3.0 * hg["gradient"]["median_s"])
    hvp_row["target_text"] = "HVP time <= 3 x gradient time (physjax)"
    hvp_row["meets_target"] = bool(hg["hvp_over_gradient"] <= 3.0)
    rows.append(hvp_row)
    for row in rows:  # work per timed call: its HVPs (Lanczos/trace bookkeeping not counted)
        n_hvps = 1 if row["name"] == "HVP" else row.get("n_hvps")
        if flops_hvp and n_hvps:
            row["flops"] = n_hvps * flops_hvp
            row["flops_per_hvp"] = flops_hvp
            row["work_model"] = f"HVPs x flops per HVP ({work_model})"
    _summary(p, rows, ph)
    return rows


def _summary(p: Problem, rows: list[dict], ph: dict) -> None:
    """Readable summary on stderr: times, HVPs and accuracy of both engines."""
    log(f"--- {p.label}: loss {p.loss:.4g}; reference {p.ref_note}")
    if "same_hessian" in ph:
        s = ph["same_hessian"]
        log(f"    same Hessian: torch loss {s['loss_torch']:.6g} vs {s['loss_physjax']:.6g}, "
            f"|Hv_torch - Hv_jax| / |Hv_jax| = {s['hv_rel_diff']:.1e}; torch threads "
            f"{ph['threads']} (HVP s by threads: {ph['thread_calibration_hvp_s']})")
    for r in rows:
        line = f"    {r['name']:<26} {r['median_s']:8.3f} s"
        if r.get("n_hvps") is not None:
            line += f" {r['n_hvps']:5d} HVP"
        if "max_rel_err" in r:
            line += f" err {r['max_rel_err']:.1e}"
        if "hvp_over_gradient" in r:
            line += f" = {r['hvp_over_gradient']:.2f} gradients (" + ", ".join(
                f"{m} {v['over_gradient']:.2f}" for m, v in r["modes"].items()) + ")"
        for a in r.get("anchors", []):
            if a.get("figure") is None:
                line += f" | {a['name']}: n/a"
                continue
            line += f" | {a['name']}: {a['median_s']:.3f} s"
            if a.get("n_hvps") is not None:
                line += f" {a['n_hvps']} HVP"
            if "max_rel_err" in a:
                line += f" err {a['max_rel_err']:.1e}"
            if "hvp_over_gradient" in a:
                line += f" = {a['hvp_over_gradient']:.2f} gradients"
            if a.get("ratio"):
                line += f" (physjax {a['ratio']:.2f}x)"
        if "target" in r:
            line += " [target " + ("met" if r.get("meets_target") else "MISSED") + "]"
        log(line)


def run(quick: bool, repeats: int) -> list[dict]:
    """Build each model and its reference, time physjax and PyHessian, one row per task."""
    rows = []
    for w in workloads(quick):
        runs = max(1, min(repeats, w.runs))
        p = _mlp_problem(w) if w.model == "mlp" else _cnn_problem(w)
        rows += _rows_for(p, w, runs, repeats)
    return rows


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--pyhessian-worker":
        _pyhessian_worker(sys.argv[2], sys.argv[3])
    else:
        print(f"usage: python {Path(__file__).name} --pyhessian-worker IN.npz OUT.json "
              f"(run the benchmark with benchmarks/run.py --only {NAME})", file=sys.stderr)
        sys.exit(2)
