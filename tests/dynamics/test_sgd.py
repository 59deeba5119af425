"""Minibatch SGD as a dynamics (physjax.dynamics.sgd): the width mask is exact, the loss
decreases, the weights' mean-square displacement grows with the lag, over-parametrized
students fit a teacher far better than under-parametrized ones, and bad input is refused.

Compilation dominates the cost of these small runs, so each compiled sweep is a
module-scoped fixture shared by several tests."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import physjax.dynamics as dyn
from physjax import datasets

# ------------------------------------------------------------------------ the width mask


@eqx.filter_jit
def _batched(net, x):
    return jax.vmap(net)(x)


def _assert_ulp_close(a, b, ulps=8):
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype == np.float64
    scale = np.maximum(np.abs(b).max(), 1.0)
    assert np.max(np.abs(a - b)) <= ulps * np.finfo(np.float64).eps * scale


def test_masked_network_equals_unmasked_network_of_that_width_float64():
    """Forward pass: the masked max-width network and the equinox MLP holding its active
    weights (and, the other way round, an equinox MLP embedded in a wider mask) agree in
    float64 to rounding: the switched-off units contribute exact zeros, and only the
    summation order of the matrix products over the padded length differs (measured: at
    most 4.4e-16 on outputs of order 1, often bitwise equal); tolerance 8 ulp."""
    with jax.enable_x64(True):
        x = jax.random.normal(jax.random.key(1), (64, 10), jnp.float64)
        for depth, width, max_width in ((1, 1, 8), (2, 5, 16)):
            net = dyn.masked_mlp(jax.random.key(depth), 10, 3, max_width, width,
                                 depth=depth, activation=jnp.tanh, dtype=jnp.float64)
            mlp = net.to_mlp(width)
            assert mlp.width_size == width and mlp.layers[0].weight.dtype == jnp.float64
            _assert_ulp_close(_batched(net, x), _batched(mlp, x))

            other = eqx.filter_jit(eqx.nn.MLP)(10, 3, width, depth, key=jax.random.key(7),
                                               dtype=jnp.float64)
            embedded = dyn.embed_mlp(other, max_width)
            _assert_ulp_close(_batched(embedded, x), _batched(other, x))
            assert embedded.flat_parameters().size == dyn.mlp_parameter_count(
                10, 3, max_width, depth=depth)
            assert int(jnp.sum(embedded.flat_parameters() != 0)) <= dyn.mlp_parameter_count(
                10, 3, width, depth=depth)


def test_masked_sgd_trajectory_equals_unmasked_width_float64():
    """SGD (with momentum and weight decay, which would move zero weights if the gradient
    mask failed) on the width-5 units of a 12-wide masked network follows the trajectory of
    the plain width-5 network step by step (same minibatches): the gradients of the
    switched-off entries are exactly zero and they stay zero."""
    with jax.enable_x64(True):
        task = datasets.teacher_student_task(jax.random.key(0), in_size=6, teacher_width=4,
                                             n_train=64, n_test=32, dtype=jnp.float64)
        sgd = dyn.MinibatchSGD(task, 0.05, 8, momentum=0.9, weight_decay=1e-3)
        wide = dyn.masked_mlp(jax.random.key(1), 6, 1, 12, 5, depth=2, dtype=jnp.float64)
        narrow = dyn.embed_mlp(wide.to_mlp(5), 5)
        steps = [0, 1, 10, 60]
        k = jax.random.key(0)
        _, rec_wide = dyn.run_sgd(jax.random.key(2), sgd, dyn.init_sgd(k, sgd, wide), steps)
        final_narrow, rec_narrow = dyn.run_sgd(jax.random.key(2), sgd,
                                               dyn.init_sgd(k, sgd, narrow), steps)
        np.testing.assert_allclose(rec_wide.train_loss, rec_narrow.train_loss, rtol=1e-12)
        assert rec_wide.train_loss[-1] < 0.8 * rec_wide.train_loss[0]
        # the active entries of the wide net are the narrow net's parameters
        mask = np.asarray(jax.flatten_util.ravel_pytree(wide.parameter_mask())[0]) > 0
        active = np.asarray(rec_wide.parameters)[:, mask]
        np.testing.assert_allclose(active, np.asarray(rec_narrow.parameters), rtol=1e-11,
                                   atol=1e-14)
        assert np.all(np.asarray(rec_wide.parameters)[:, ~mask] == 0.0)


def test_masked_init_follows_equinox_fan_in_for_the_active_width():
    """Active entries of a layer fed by ``width`` hidden units are U(+-1/sqrt(width)):
    max |w| just below the bound; variance 1/(3 width) within 15% (576 and 720 samples,
    relative standard error sqrt(0.8/n) < 3.8% for a uniform law: 4 s.e.)."""
    width = 24
    net = dyn.masked_mlp(jax.random.key(3), 40, 30, 256, width, depth=2)
    for layer, rows in zip(net.layers[1:], (width, 30), strict=True):
        w = np.asarray(layer.weight)[:rows, :width]
        assert np.all(w != 0) and np.abs(w).max() <= 1 / np.sqrt(width)
        assert np.abs(w).max() > 0.95 / np.sqrt(width)
        np.testing.assert_allclose(w.var(), 1 / (3 * width), rtol=0.15)
        assert np.all(np.asarray(layer.weight)[:, width:] == 0)
        assert np.all(np.asarray(layer.weight)[rows:] == 0)


# ---------------------------------------------------------------------- SGD on digits

WAITING = np.array([20, 80])
LAGS = np.array([1, 4, 16, 64, 256])


@pytest.fixture(scope="module")
def digits_sweep():
    """4 replicas of a 16-wide network (masked in a 24-wide one) on the digits, lr 0.1,
    batch 32, recorded on an aging schedule up to step 400."""
    task = datasets.digits_task(jax.random.key(0))
    sgd = dyn.MinibatchSGD(task, 0.1, 32)
    steps = dyn.aging_schedule(WAITING, LAGS, n_log=8)
    return dyn.sgd_width_sweep(jax.random.key(1), sgd, [16], 4, steps, max_width=24)


def test_sgd_loss_decreases_on_digits(digits_sweep):
    rec = digits_sweep.record
    assert rec.train_loss.shape == (1, 4, digits_sweep.record_steps.size)
    assert not np.any(rec.diverged)
    start, end = rec.train_loss[0, :, 0], rec.train_loss[0, :, -1]
    # chance level: cross-entropy log(10) = 2.30 for near-uniform initial logits
    np.testing.assert_allclose(start, np.log(10.0), atol=0.2)
    assert np.all(end < 0.3 * start)
    assert np.all(rec.test_accuracy[0, :, -1] > 0.8)          # chance: 0.1
    # the replica-mean full-batch loss decreases from one waiting time to the next
    steps = digits_sweep.record_steps
    idx = np.searchsorted(steps, [0, WAITING[0], WAITING[1], WAITING[1] + LAGS[-1]])
    assert np.all(np.diff(rec.train_loss[0].mean(0)[idx]) < 0)


def test_sgd_msd_grows_with_lag_and_is_per_active_parameter(digits_sweep):
    msd = digits_sweep.mean_square_displacement(WAITING, LAGS)   # (1, R, n_w, n_lag)
    assert msd.shape == (1, 4, WAITING.size, LAGS.size)
    mean = msd[0].mean(0)
    assert np.all(np.diff(mean, axis=-1) > 0)
    assert np.all(mean[:, -1] > 30 * mean[:, 0])
    # per active parameter: the zero-padded vector, rescaled, equals the direct average
    rec, steps = digits_sweep.record, digits_sweep.record_steps
    i0, i1 = np.searchsorted(steps, [WAITING[0], WAITING[0] + LAGS[-1]])
    p = rec.parameters[0, 0]
    n_active = digits_sweep.n_parameters[0]
    assert np.count_nonzero(p[i1]) == n_active
    np.testing.assert_allclose(msd[0, 0, 0, -1], np.sum((p[i1] - p[i0]) ** 2) / n_active,
                               rtol=1e-4)


def test_run_sgd_continues_a_run_bit_for_bit():
    """Minibatch n uses fold_in(key, n) with the absolute step: two halves = one run."""
    task = datasets.teacher_student_task(jax.random.key(4), in_size=4, teacher_width=3,
                                         n_train=32, n_test=16)
    sgd = dyn.MinibatchSGD(task, 0.1, 4)
    net = dyn.masked_mlp(jax.random.key(5), 4, 1, 6, 3)
    state = dyn.init_sgd(jax.random.key(0), sgd, net)
    key = jax.random.key(6)
    one, _ = dyn.run_sgd(key, sgd, state, [20], record_parameters=False)
    half, _ = dyn.run_sgd(key, sgd, state, [10], record_parameters=False)
    two, _ = dyn.run_sgd(key, sgd, half, [10], record_parameters=False)
    assert int(two.step) == 20
    np.testing.assert_array_equal(one.network.flat_parameters(),
                                  two.network.flat_parameters())
    stepped = state
    for n in range(10):
        stepped = dyn.sgd_step(jax.random.fold_in(key, n), sgd, stepped)
    np.testing.assert_allclose(stepped.network.flat_parameters(),
                               half.network.flat_parameters(), rtol=1e-6)


# ------------------------------------------------------------------ teacher--student


@pytest.fixture(scope="module")
def teacher_student():
    """Students of width 1 (11 parameters for 128 samples) and 32 (321 parameters, over-
    parametrized; the tanh teacher has width 8) trained 2000 steps, one sweep."""
    task = datasets.teacher_student_task(jax.random.key(2), in_size=8, teacher_width=8,
                                         n_train=128, n_test=256)
    sgd = dyn.MinibatchSGD(task, 0.2, 16)
    key = jax.random.key(1)
    sweep = dyn.sgd_width_sweep(key, sgd, [1, 32], 3, [0, 500, 2000],
                                activation=jnp.tanh, record_parameters=False)
    return task, sgd, key, sweep


def test_overparametrized_student_fits_much_better(teacher_student):
    """The width-1 student is stuck at the error of the best single tanh unit (measured
    0.026), the width-32 student keeps descending (measured 6e-4): require a factor 10."""
    _, _, _, sweep = teacher_student
    assert list(sweep.n_parameters) == [11, 321]
    final = sweep.record.train_loss[:, :, -1]                 # (G, R)
    assert np.all(sweep.record.train_loss[:, :, -1] < sweep.record.train_loss[:, :, 0])
    assert final[1].max() < 0.1 * final[0].min()
    assert sweep.record.test_loss[1, :, -1].max() < sweep.record.test_loss[0, :, -1].min()
    assert sweep.record.parameters is None and sweep.record.test_accuracy is None


def test_width_sweep_replica_equals_a_single_run(teacher_student):
    """Pair (g, r) of the sweep is init from split(fold_in(fold_in(key, g), r))[0] and SGD
    with [1]: reproduce the width-1 replica 2 by hand."""
    task, sgd, key, sweep = teacher_student
    k = jax.random.fold_in(jax.random.fold_in(key, 0), 2)
    k_init, k_run = jax.random.split(k)
    net = dyn.masked_mlp(k_init, 8, 1, 32, 1, activation=jnp.tanh)
    _, rec = dyn.run_sgd(k_run, sgd, dyn.init_sgd(jax.random.key(0), sgd, net), [0, 500, 2000],
                         record_parameters=False)
    np.testing.assert_allclose(rec.train_loss, sweep.record.train_loss[0, 2], rtol=1e-4)


# ---------------------------------------------------------------------------- bad input


def test_bad_input_is_refused_with_the_argument_named():
    task = datasets.teacher_student_task(jax.random.key(0), in_size=4, teacher_width=2,
                                         n_train=16, n_test=8)
    with pytest.raises(ValueError, match="width"):
        dyn.masked_mlp(jax.random.key(0), 4, 1, 8, 9)
    with pytest.raises(ValueError, match="width"):
        dyn.masked_mlp(jax.random.key(0), 4, 1, 8, 0)
    with pytest.raises(ValueError, match="learning_rate"):
        dyn.MinibatchSGD(task, 0.0, 4)
    with pytest.raises(ValueError, match="learning_rate"):
        dyn.MinibatchSGD(task, np.nan, 4)
    with pytest.raises(ValueError, match="weight_decay"):
        dyn.MinibatchSGD(task, 0.1, 4, weight_decay=-1.0)
    with pytest.raises(ValueError, match="batch_size"):
        dyn.MinibatchSGD(task, 0.1, 17)
    with pytest.raises(ValueError, match="momentum"):
        dyn.MinibatchSGD(task, 0.1, 4, momentum=1.5)
    with pytest.raises(ValueError, match="loss"):
        dyn.SupervisedTask(task.x_train, task.y_train, task.x_test, task.y_test, "hinge")
    with pytest.raises(ValueError, match="y_train"):
        dyn.SupervisedTask(task.x_train, task.y_train[:-1], task.x_test, task.y_test, "mse")
    sgd = dyn.MinibatchSGD(task, 0.1, 4)
    with pytest.raises(TypeError, match="network"):
        dyn.init_sgd(jax.random.key(0), sgd, eqx.nn.MLP(4, 1, 3, 1, key=jax.random.key(0)))
    with pytest.raises(ValueError, match="inputs"):
        dyn.init_sgd(jax.random.key(0), sgd, dyn.masked_mlp(jax.random.key(0), 5, 1, 4, 2))
    with pytest.raises(ValueError, match="widths"):
        dyn.sgd_width_sweep(jax.random.key(0), sgd, [0, 2], 1, [0, 1])
    with pytest.raises(ValueError, match="max_width"):
        dyn.sgd_width_sweep(jax.random.key(0), sgd, [2, 8], 1, [0, 1], max_width=4)
    with pytest.raises(ValueError, match="record_steps"):
        dyn.run_sgd(jax.random.key(0), sgd, None, [5, 3])
    with pytest.raises(TypeError, match="state"):
        dyn.run_sgd(jax.random.key(0), sgd, None, [5])
    with pytest.raises(ValueError, match="n_test"):
        datasets.digits_task(jax.random.key(0), n_test=5000)


def test_divergence_is_stopped_and_reported_never_nan():
    """A learning rate far beyond stability (lr * curvature >> 2) overflows the weights:
    the run freezes on the last finite state, reports the step, and records no NaN."""
    task = datasets.teacher_student_task(jax.random.key(0), in_size=4, teacher_width=2,
                                         n_train=16, n_test=8)
    sgd = dyn.MinibatchSGD(task, 1e6, 4)
    state = dyn.init_sgd(jax.random.key(0), sgd, dyn.masked_mlp(jax.random.key(1), 4, 1, 4, 3,
                                             activation=lambda z: z))
    final, rec = dyn.run_sgd(jax.random.key(2), sgd, state, [0, 5, 50, 200])
    assert int(final.diverged_at) > 0
    assert bool(rec.diverged[-1]) and not bool(rec.diverged[0])
    assert np.all(np.isfinite(rec.parameters))
    assert not np.any(np.isnan(rec.train_loss)) and not np.any(np.isnan(rec.test_loss))
    assert np.all(np.isfinite(rec.train_loss[~rec.diverged]))
    assert int(final.step) == int(final.diverged_at) - 1
    np.testing.assert_array_equal(final.network.flat_parameters(), rec.parameters[-1])
