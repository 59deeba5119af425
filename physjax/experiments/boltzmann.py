r"""Restricted Boltzmann machines: Ising thermodynamics, digits, and the Hopfield equivalence.

Three experiments on :mod:`physjax.spins`'s RBMs (seeds 001 and 003):

* ``rbm-ising`` (Torlai & Melko 2016; seed 001, Fig. 6): independent L x L periodic Ising
  configurations from the multi-spin Monte Carlo sampler at each temperature; one RBM per
  temperature (spin visible and spin hidden units, CD-1, Adam with a learning rate decaying
  linearly to 0), the RBMs of all temperatures trained in one vmapped program; then block
  Gibbs chains of each RBM (:class:`~physjax.spins.RBMGibbs` through
  :func:`physjax.kernels.run`, records every 4 steps after 200 burn-in steps).  Energy per
  spin and :math:`\langle|m|\rangle` of the RBM samples against the Monte Carlo data and
  Kaufman's exact finite-lattice energy, and snapshots of both.
* ``rbm-digits``: a binary RBM on binarized ``load_digits`` (80/20 split), CD-1 with
  momentum, visible biases at the base rates.  Per epoch the exact pseudo-likelihood of the
  train and test images; at checkpoints the AIS log-likelihood (and, when the hidden layer
  is small enough, the exact one by enumerating it).  scikit-learn's ``BernoulliRBM`` with
  the same size, learning rate, batch and epochs is drawn for reference.  Filters (hidden
  units' weights) and samples of the trained RBM.
* ``hopfield-rbm`` (seed 003): the Gaussian-hidden RBM with :math:`W = \sqrt\beta\,\xi^T/
  \sqrt N` and the Hopfield network have the same distribution (every one of the
  :math:`2^N` log-probabilities, float64); and RBM training on digits (spin pixels, one
  Gaussian hidden unit per class) from a *Hopfield initialization* (the patterns
  :math:`\xi^\mu` = sign of each class mean) against a small random initialization: test
  pseudo-likelihood per epoch, and the learned weights as images.
"""

from __future__ import annotations

import itertools

import jax
import numpy as np
import optax

from physjax._checks import check_positive, check_positive_int
from physjax._optional import require
from physjax.experiments import ExperimentResult, register
from physjax.experiments._boltzmann_figures import digits_figure, hopfield_figure, ising_figure
from physjax.experiments._ising_models import (
    learned_vs_monte_carlo_summary,
)

# -------------------------------------------------------------------------- rbm-ising

@register(
    "rbm-ising",
    description="RBMs trained on 2-D Ising configurations at several T: e and |m| of RBM "
                "samples vs Monte Carlo (and Kaufman), snapshots (Torlai & Melko 2016)",
    quick={"L": 8, "temperatures": (1.5, 2.27, 3.5), "n_samples": 4000, "burn_in": 200,
           "n_hidden": 64, "n_epochs": 40, "batch_size": 200, "learning_rate": 0.03,
           "n_chains": 500, "n_records": 40},
    full={"L": 8, "temperatures": (1.5, 1.8, 2.0, 2.15, 2.27, 2.4, 2.6, 3.0, 3.5),
          "n_samples": 20000, "burn_in": 500, "n_hidden": 64, "n_epochs": 100,
          "batch_size": 500, "learning_rate": 0.03, "n_chains": 2000, "n_records": 200},
)
def rbm_ising(key, *, L, temperatures, n_samples, burn_in, n_hidden, n_epochs, batch_size,
              learning_rate, n_chains, n_records, progress=None) -> ExperimentResult:
    """Monte Carlo vs RBM thermodynamics of the L x L Ising model."""
    import physjax.spins as ps
    from physjax import datasets
    from physjax.kernels import run
    from physjax.spins.rbm import RBMGibbs

    temps = np.asarray(temperatures, float)
    n = check_positive_int(n_samples, "n_samples")
    n_epochs = check_positive_int(n_epochs, "n_epochs")
    batch = check_positive_int(batch_size, "batch_size")
    check_positive(learning_rate, "learning_rate")
    R, n_rec = check_positive_int(n_chains, "n_chains"), check_positive_int(n_records, "n_records")
    k_data, k_train = jax.random.split(key)
    data = datasets.ising_configurations(k_data, L, temps, n, burn_in=burn_in)
    if progress is not None:
        progress(1, 3)
    opt = optax.adam(optax.linear_schedule(learning_rate, 0.0, n_epochs * (n // batch)))

    def learn_and_sample(k, spins):
        k1, k2, k3 = jax.random.split(k, 3)
        rbm = ps.init_rbm(k1, L * L, n_hidden, visible="spin", hidden="spin", scale=0.05)
        rbm, hist = ps.train_rbm(k2, rbm, spins, n_epochs=n_epochs, batch_size=batch,
                                 optimizer=opt, method="cd")
        k_init, k_run = jax.random.split(k3)
        r = run(RBMGibbs(), k_run, rbm, ps.init_chains(k_init, rbm, R), 4 * n_rec,
                burn_in=200, record_every=4,
                observe=lambda m, s, i: datasets.ising_observables(s.visible, L))
        e, m = r.records
        return e, m, r.state.visible[:1], hist.reconstruction_error

    e, m, snap, recon = jax.jit(jax.vmap(learn_and_sample))(
        jax.random.split(k_train, temps.size), data.spins)
    if progress is not None:
        progress(3, 3)
    e_mc = np.asarray(data.energy, np.float64)
    m_mc = np.abs(np.asarray(data.magnetization, np.float64))
    e_rbm = np.asarray(e, np.float64).reshape(temps.size, -1)
    m_rbm = np.asarray(m, np.float64).reshape(temps.size, -1)
    kaufman = np.array([ps.exact_finite_lattice(L, t).energy_per_spin for t in temps])
    out = {
        "temperatures": temps, "L": L, "kaufman_energy": kaufman,
        "e_mc": e_mc.mean(1), "e_mc_se": e_mc.std(1, ddof=1) / np.sqrt(n),
        "abs_m_mc": m_mc.mean(1), "abs_m_mc_se": m_mc.std(1, ddof=1) / np.sqrt(n),
        # chain averages over the records: standard errors from the per-chain means
        "e_rbm": e_rbm.mean(1), "e_rbm_se": _chain_se(e, temps.size),
        "abs_m_rbm": m_rbm.mean(1), "abs_m_rbm_se": _chain_se(m, temps.size),
        "snapshots_mc": np.asarray(data.spins[:, 0]).reshape(-1, L, L),
        "snapshots_rbm": np.asarray(snap[:, 0]).reshape(-1, L, L),
        "reconstruction_error": np.asarray(recon),
    }
    summary = learned_vs_monte_carlo_summary(out, "rbm", "RBM")
    return ExperimentResult(data=out, figure=ising_figure(out), summary=summary)


def _chain_se(x, n_t):
    per_chain = np.asarray(x, np.float64).mean(axis=1)          # (n_T, chains)
    return per_chain.std(axis=-1, ddof=1) / np.sqrt(per_chain.shape[-1])


# ------------------------------------------------------------------------ rbm-digits

@register(
    "rbm-digits",
    description="Binary RBM on binarized load_digits: filters, samples, pseudo- and AIS "
                "log-likelihood per epoch, scikit-learn BernoulliRBM for reference",
    quick={"n_hidden": 16, "n_epochs": 8, "batch_size": 10, "learning_rate": 0.05,
           "momentum": 0.9, "ais_every": 4, "ais_chains": 256, "ais_betas": 1000,
           "n_samples": 16, "sample_steps": 1000},
    full={"n_hidden": 64, "n_epochs": 50, "batch_size": 10, "learning_rate": 0.05,
          "momentum": 0.9, "ais_every": 10, "ais_chains": 1000, "ais_betas": 10000,
          "n_samples": 32, "sample_steps": 5000},
)
def rbm_digits(key, *, n_hidden, n_epochs, batch_size, learning_rate, momentum, ais_every,
               ais_chains, ais_betas, n_samples, sample_steps, progress=None) -> ExperimentResult:
    """Train a binary RBM on the digits, score it per epoch."""
    import physjax.spins as ps
    from physjax import datasets

    sk = require("sklearn.neural_network", by="physjax.experiments.boltzmann.rbm_digits")
    BernoulliRBM = sk.BernoulliRBM

    n_epochs = check_positive_int(n_epochs, "n_epochs")
    ais_every = check_positive_int(ais_every, "ais_every")
    check_positive(learning_rate, "learning_rate")
    X, _ = datasets.binarized_digits()
    k_split, k_init, k_train, k_ais, k_sample = jax.random.split(key, 5)
    train, test = datasets.split_data(k_split, X, 0.2)
    opt = optax.sgd(learning_rate, momentum=momentum)
    rbm = ps.init_rbm(k_init, 64, n_hidden, data=train)
    state = ps.init_training(k_init, rbm, opt, method="cd")
    exact = n_hidden <= 20
    pl_train, pl_test, recon, ckpt = [], [], [], []

    def score(epoch, rbm):
        pl_train.append(float(ps.pseudo_log_likelihood(rbm, train)))
        pl_test.append(float(ps.pseudo_log_likelihood(rbm, test)))
        if epoch % ais_every == 0 or epoch == n_epochs:
            ais = ps.ais_log_partition(jax.random.fold_in(k_ais, epoch), rbm,
                                       n_chains=ais_chains, n_betas=ais_betas, base_data=train)
            row = [epoch, float(ps.log_likelihood(rbm, train, ais)),
                   float(ps.log_likelihood(rbm, test, ais)), float(ais.stderr)]
            if exact:
                log_z = ps.rbm_log_partition(rbm)
                row += [float(ps.log_likelihood(rbm, test, log_z))]
            ckpt.append(row)

    score(0, rbm)
    for epoch in range(1, n_epochs + 1):
        state, hist = ps.train_epochs(jax.random.fold_in(k_train, epoch), state, train, opt,
                                      batch_size=batch_size)
        recon.append(float(hist.reconstruction_error[0]))
        score(epoch, state.rbm)
        if progress is not None:
            progress(epoch, n_epochs)
    rbm = state.rbm
    sk = BernoulliRBM(n_components=n_hidden, learning_rate=learning_rate,
                      batch_size=batch_size, n_iter=n_epochs, random_state=0
                      ).fit(np.asarray(train))
    sk_rbm = ps.RBM(sk.components_.T, sk.intercept_visible_, sk.intercept_hidden_)
    sk_pl = float(ps.pseudo_log_likelihood(sk_rbm, test))
    chains = ps.run_gibbs(k_sample, rbm, ps.init_chains(k_sample, rbm, n_samples), sample_steps)
    ckpt = np.array(ckpt)
    out = {"epochs": np.arange(n_epochs + 1), "pseudo_ll_train": np.array(pl_train),
           "pseudo_ll_test": np.array(pl_test), "reconstruction_error": np.array(recon),
           "checkpoints": ckpt, "sklearn_pseudo_ll_test": sk_pl,
           "filters": np.asarray(rbm.weights.T).reshape(-1, 8, 8),
           "samples": np.asarray(visible_mean_images(ps, rbm, chains)),
           "n_hidden": n_hidden}
    summary = {"test pseudo-LL (physjax)": pl_test[-1], "test pseudo-LL (sklearn)": sk_pl,
               "test LL (AIS)": float(ckpt[-1, 2]), "AIS standard error": float(ckpt[-1, 3]),
               "train LL (AIS)": float(ckpt[-1, 1])}
    if exact:
        summary["test LL (exact)"] = float(ckpt[-1, 4])
        summary["max |AIS - exact| test LL"] = float(np.max(np.abs(ckpt[:, 2] - ckpt[:, 4])))
    return ExperimentResult(data=out, figure=digits_figure(out), summary=summary)


def visible_mean_images(ps, rbm, chains):
    """The chains' last visible means E[v|h], shaped as 8 x 8 images."""
    return ps.visible_mean(rbm, chains.hidden).reshape(-1, 8, 8)


# ----------------------------------------------------------------------- hopfield-rbm

@register(
    "hopfield-rbm",
    description="Hopfield network = Gaussian-hidden RBM (all 2^N log-probabilities), and RBM "
                "training on digits from a Hopfield vs a random initialization (seed 003)",
    quick={"n_spins": 12, "n_patterns": 3, "beta": 1.3, "init_beta": 0.3, "n_epochs": 6,
           "batch_size": 20, "learning_rate": 0.003},
    full={"n_spins": 16, "n_patterns": 4, "beta": 1.3, "init_beta": 0.3, "n_epochs": 15,
          "batch_size": 20, "learning_rate": 0.003},
)
def hopfield_rbm(key, *, n_spins, n_patterns, beta, init_beta, n_epochs, batch_size,
                 learning_rate, progress=None) -> ExperimentResult:
    """The equivalence over all states, then Hopfield- vs random-initialized training."""
    import physjax.spins as ps
    from physjax import datasets

    N = check_positive_int(n_spins, "n_spins")
    if N > 20:
        raise ValueError(f"n_spins must be <= 20 to compare all 2^N states, got {N}")
    K = check_positive_int(n_patterns, "n_patterns")
    check_positive(beta, "beta")
    n_epochs = check_positive_int(n_epochs, "n_epochs")
    k_pat, k_split, k_rand, k_train = jax.random.split(key, 4)
    with jax.enable_x64(True):
        xi = np.asarray(ps.random_patterns(k_pat, K, N), np.float64)
        S = np.array(list(itertools.product([-1.0, 1.0], repeat=N)))
        energy = -0.5 / N * np.sum((S @ xi.T) ** 2, axis=1)            # Hebb, with diagonal
        log_p_hop = -beta * energy - _logsumexp(-beta * energy)
        rbm = ps.hopfield_to_rbm(xi, beta)
        log_p_rbm = np.asarray(-ps.free_energy(rbm, S) - ps.rbm_log_partition(rbm))
    max_diff = float(np.max(np.abs(log_p_rbm - log_p_hop)))

    # training: spin digits, one Gaussian hidden unit per class
    X, y = datasets.binarized_digits(units="spin")
    idx = np.asarray(jax.random.permutation(k_split, X.shape[0]))
    n_test = X.shape[0] // 5
    train, test = np.asarray(X)[idx[n_test:]], np.asarray(X)[idx[:n_test]]
    labels = np.asarray(y)[idx[n_test:]]
    patterns = np.where(np.stack([train[labels == c].mean(0) for c in range(10)]) >= 0, 1.0, -1.0)
    inits = {"Hopfield": ps.hopfield_to_rbm(patterns, init_beta),
             "random": ps.RBM(0.01 * jax.random.normal(k_rand, (64, 10)), visible="spin",
                              hidden="gaussian")}
    opt = optax.adam(learning_rate)
    curves, weights = {}, {}
    for j, (name, rbm0) in enumerate(inits.items()):
        state = ps.init_training(k_train, rbm0, opt, method="cd")
        pl = [float(ps.pseudo_log_likelihood(rbm0, test))]
        for epoch in range(n_epochs):
            state, _ = ps.train_epochs(jax.random.fold_in(k_train, epoch), state, train, opt,
                                       batch_size=batch_size)
            pl.append(float(ps.pseudo_log_likelihood(state.rbm, test)))
            if progress is not None:
                progress(j * n_epochs + epoch + 1, 2 * n_epochs)
        curves[name] = np.array(pl)
        weights[name] = np.asarray(state.rbm.weights.T).reshape(10, 8, 8)
    out = {"log_p_hopfield": log_p_hop, "log_p_rbm": log_p_rbm, "patterns": xi,
           "digit_patterns": patterns.reshape(10, 8, 8), "epochs": np.arange(n_epochs + 1),
           "pseudo_ll_hopfield_init": curves["Hopfield"],
           "pseudo_ll_random_init": curves["random"],
           "weights_hopfield_init": weights["Hopfield"],
           "weights_random_init": weights["random"], "beta": beta}
    summary = {"max |log p_RBM - log p_Hopfield|": max_diff, "n_states": float(S.shape[0]),
               "test pseudo-LL at epoch 0, Hopfield init": float(curves["Hopfield"][0]),
               "test pseudo-LL at epoch 0, random init": float(curves["random"][0]),
               "final test pseudo-LL, Hopfield init": float(curves["Hopfield"][-1]),
               "final test pseudo-LL, random init": float(curves["random"][-1])}
    return ExperimentResult(data=out, figure=hopfield_figure(out), summary=summary)


def _logsumexp(x):
    top = np.max(x)
    return top + np.log(np.sum(np.exp(x - top)))
