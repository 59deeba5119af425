"""RBM benchmark: CD-1 training throughput against scikit-learn's BernoulliRBM, and AIS.

Figure of merit for training: **samples per second** (training images passed through a
parameter update per second).  Rows:

* ``CD-1 epochs, digits``: :func:`physjax.spins.train_epochs` (CD-1, Optax SGD) on the 1797
  binarized ``load_digits`` images (64 visible, 256 hidden, batch 100, 10 epochs per timed
  call; physjax drops the last incomplete batch: 1700 images per epoch are counted).
* ``PCD-1 epochs, digits``: the same with persistent chains (100 chains), which is the
  algorithm scikit-learn's BernoulliRBM runs (``h_samples_``).
* ``CD-1 epoch, Ising 32x32``: 20000 independent 32 x 32 Ising configurations at
  T = 2.27 (multi-spin Metropolis, 200 sweeps from random starts; 0/1 units), 1024 visible,
  512 hidden, batch 100, one epoch per timed call.

Anchor for each row, in the same run on the same data: ``BernoulliRBM(n_components,
learning_rate, batch_size=100, n_iter)`` ``.fit`` -- the workload of
``../shared/anchors/sklearn_rbm.py`` (PCD-1 in float64), timed the same way (one warm-up
fit, then the median of the timed fits); samples/s = n_iter * n_images / seconds.  The
target is 5x scikit-learn on a CPU.

* ``CD-1 products alone, digits``: the CD-1 row's batches through its four matrix products,
  sigmoids and SGD update with no sampling -- the arithmetic floor of any CD-1 on this
  backend (no target; its ratio to scikit-learn bounds what the CD-1 row can reach).
* ``AIS``: :func:`physjax.spins.ais_log_partition` with 1000 chains and 10^4 temperatures on
  the digits RBM after the CD-1 row's training; the figure is the wall time (no anchor).
  ``--quick``: 10^3 temperatures.
"""

from __future__ import annotations

import numpy as np
from _harness import log, summarize, time_repeats

NAME = "boltzmann"
DESCRIPTION = ("RBM CD-1 training epochs (samples/s) on binarized digits 64x256 and 20000 "
               "Ising 32x32 configurations 1024x512 vs scikit-learn BernoulliRBM; AIS 1000 "
               "chains x 1e4 temperatures wall time")

UNIT = "samples/s"
TARGET_RATIO = 5.0
BATCH = 100


# Minimal work, for the roofline column (the matrix products; sampling, sigmoids and the
# optimizer are O(V + H) per sample and not counted): CD-1 per training sample
# v0 W, h0 W^T, v1 W (2 V H flops each) and the two outer products of the weight gradient
# (4 V H) = 10 V H; AIS per chain and temperature one Gibbs transition v -> h -> v
# (4 V H; the free energy reuses v W).
CD_WORK_MODEL = "10 V H flops per training sample (the four matrix products of CD-1)"
AIS_WORK_MODEL = "4 V H flops per chain and temperature (one Gibbs transition)"


def cd_flops(n_visible: int, n_hidden: int, n_samples: int) -> float:
    return 10.0 * n_visible * n_hidden * n_samples


def digits_data() -> np.ndarray:
    from sklearn.datasets import load_digits

    return (load_digits().data > 7).astype(np.float64)


def ising_data(n: int, L: int = 32, temperature: float = 2.27) -> np.ndarray:
    import jax

    from physjax import datasets

    d = datasets.ising_configurations(jax.random.key(0), L, [temperature], n, burn_in=200,
                                      units="binary")
    return np.asarray(d.spins[0], np.float64)


def _time_sklearn(X, n_hidden, lr, n_iter, runs) -> dict:
    from sklearn import __version__
    from sklearn.neural_network import BernoulliRBM

    def fit(i):
        return BernoulliRBM(n_components=n_hidden, learning_rate=lr, batch_size=BATCH,
                            n_iter=n_iter, random_state=max(i, 0)).fit(X)
    seconds, _ = time_repeats(fit, lambda i: (i,), runs)
    stats = summarize(seconds)
    return {"name": "sklearn BernoulliRBM", "version": __version__, **stats,
            "figure": n_iter * X.shape[0] / stats["median_s"],
            "figure_best": n_iter * X.shape[0] / stats["min_s"],
            "detail": f"BernoulliRBM(n_components={n_hidden}, learning_rate={lr}, "
                      f"batch_size={BATCH}, n_iter={n_iter}).fit on the same float64 data "
                      "(PCD-1, the anchor harness's workload)"}


def _time_physjax(X, n_hidden, lr, n_epochs, method, runs):
    import jax
    import jax.numpy as jnp
    import optax

    import physjax.spins as ps

    opt = optax.sgd(lr)
    data = jnp.asarray(X, jnp.float32)
    rbm = ps.init_rbm(jax.random.key(0), X.shape[1], n_hidden)
    state = ps.init_training(jax.random.key(1), rbm, opt, method=method, n_chains=BATCH)

    def call(key):
        return ps.train_epochs(key, state, data, opt, n_epochs=n_epochs, batch_size=BATCH)
    seconds, (trained, hist) = time_repeats(call, lambda i: (jax.random.key(i + 2),), runs)
    stats = summarize(seconds)
    n = n_epochs * (X.shape[0] // BATCH) * BATCH
    return {**stats, "sweeps": n_epochs, "figure": n / stats["median_s"],
            "figure_best": n / stats["min_s"], "flops": cd_flops(X.shape[1], n_hidden, n),
            "work_model": CD_WORK_MODEL,
            "reconstruction_error": float(hist.reconstruction_error[-1])}, trained.rbm


def _training_row(name, label, X, n_hidden, lr, n_epochs, method, runs, anchor) -> tuple:
    log(f"boltzmann {name}: physjax ({runs} runs)")
    row, rbm = _time_physjax(X, n_hidden, lr, n_epochs, method, runs)
    row = {"name": name, "workload": label, "unit": UNIT, "n_visible": X.shape[1],
           "n_hidden": n_hidden, "batch_size": BATCH, "learning_rate": lr, "method": method,
           **row}
    row["anchors"] = [{**anchor, "ratio": row["figure"] / anchor["figure"]}]
    row["target"] = TARGET_RATIO * anchor["figure"]
    row["target_text"] = f">= {TARGET_RATIO:g}x scikit-learn BernoulliRBM samples/s (CPU)"
    row["meets_target"] = bool(row["figure"] >= row["target"])
    return row, rbm


def _products_floor_row(X, n_hidden, lr, n_epochs, runs, anchor) -> dict:
    """The arithmetic of CD-1 alone: the same mini-batches through the same four matrix
    products, sigmoids and SGD update, with mean-field values in place of every sample (no
    random numbers, no optimizer state, no reconstruction error).  No training algorithm
    can be faster on this backend; its ratio to scikit-learn bounds the achievable one."""
    import jax
    import jax.numpy as jnp

    B = BATCH
    nb = X.shape[0] // B
    data = jnp.asarray(X[: nb * B], jnp.float32).reshape(nb, B, X.shape[1])
    w0 = 0.01 * jax.random.normal(jax.random.key(0), (X.shape[1], n_hidden))

    @jax.jit
    def epochs(w):
        def step(w, v0):
            ph0 = jax.nn.sigmoid(v0 @ w)
            v1 = jax.nn.sigmoid(ph0 @ w.T)
            ph1 = jax.nn.sigmoid(v1 @ w)
            dw = jnp.concatenate([v0, -v1]).T @ jnp.concatenate([ph0, ph1])
            return w + (lr / B) * dw, None
        return jax.lax.scan(lambda w, _: jax.lax.scan(step, w, data), w, None,
                            length=n_epochs)[0]
    seconds, _ = time_repeats(epochs, lambda i: (w0 + i * 1e-6,), runs)
    stats = summarize(seconds)
    n = n_epochs * nb * B
    fig = n / stats["median_s"]
    return {"name": "CD-1 products alone, digits",
            "workload": f"the CD-1 row's {n_epochs} epochs: 4 matrix products + sigmoids + "
                        "SGD per batch, no sampling (upper bound for any CD-1)",
            "unit": UNIT, **stats, "sweeps": n_epochs, "figure": fig,
            "flops": cd_flops(X.shape[1], n_hidden, n), "work_model": CD_WORK_MODEL,
            "figure_best": n / stats["min_s"],
            "anchors": [{**anchor, "ratio": fig / anchor["figure"]}]}


def _ais_row(rbm, n_betas, runs) -> dict:
    import jax

    import physjax.spins as ps

    def call(key):
        return ps.ais_log_partition(key, rbm, n_chains=1000, n_betas=n_betas)
    seconds, res = time_repeats(call, lambda i: (jax.random.key(100 + i),), runs)
    stats = summarize(seconds)
    return {"name": "AIS", "workload": f"1000 chains x {n_betas} temperatures, digits RBM "
                                       f"{rbm.n_visible}x{rbm.n_hidden}",
            "unit": "s", **stats, "figure": stats["median_s"], "wall_s": stats["median_s"],
            "sweeps": n_betas, "log_partition": float(res.log_partition),
            "flops": 4.0 * rbm.n_visible * rbm.n_hidden * 1000 * n_betas,
            "work_model": AIS_WORK_MODEL,
            "stderr": float(res.stderr), "anchors": []}


def run(quick: bool, repeats: int) -> list[dict]:
    X = digits_data()
    label = f"binarized digits {X.shape[0]} x 64, 256 hidden, batch {BATCH}"
    runs = min(repeats, 3) if quick else repeats
    log(f"boltzmann digits: sklearn anchor ({runs} runs of 10 epochs)")
    sk = _time_sklearn(X, 256, 0.05, 10, runs)
    rows = []
    row, digits_rbm = _training_row("CD-1 epochs, digits", label + ", 10 epochs", X, 256, 0.05,
                                    10, "cd", runs, sk)
    rows.append(row)
    rows.append(_training_row("PCD-1 epochs, digits", label + ", 10 epochs", X, 256, 0.05, 10,
                              "pcd", runs, sk)[0])
    log("boltzmann digits: CD-1 matrix products alone (the arithmetic floor)")
    rows.append(_products_floor_row(X, 256, 0.05, 10, runs, sk))
    n = 4000 if quick else 20000
    log(f"boltzmann ising: generating {n} 32x32 configurations")
    Xi = ising_data(n)
    big_runs = max(1, min(repeats, 2 if quick else 3))
    log(f"boltzmann ising: sklearn anchor ({big_runs} runs of 1 epoch)")
    sk_big = _time_sklearn(Xi, 512, 0.01, 1, big_runs)
    rows.append(_training_row("CD-1 epoch, Ising 32x32",
                              f"{n} Ising 32x32 configurations at T=2.27 (0/1), 512 hidden, "
                              f"batch {BATCH}, 1 epoch", Xi, 512, 0.01, 1, "cd", big_runs,
                              sk_big)[0])
    n_betas = 1000 if quick else 10_000
    log(f"boltzmann AIS: 1000 chains x {n_betas} temperatures")
    rows.append(_ais_row(digits_rbm, n_betas, max(1, min(repeats, 3))))
    return rows
