"""Minibatch SGD as a dynamics: the parameters of a small network are the "particle",
training is a quench from a random start, and the aging observables of
:mod:`physjax.dynamics.aging` apply to the flattened parameter vector (Baity-Jesi et al.,
"Comparing dynamics: deep neural networks versus glassy systems", ICML 2018).

**Dynamics**.  :class:`MinibatchSGD` holds a :class:`SupervisedTask` (data and loss), the
learning rate :math:`\\eta` and the batch size :math:`B`; one step is

.. math::  w \\leftarrow w - \\eta\\,\\nabla_w \\frac1B\\sum_{a\\in\\mathcal B}
           \\ell(w; x_a, y_a),

with the minibatch :math:`\\mathcal B` drawn i.i.d. uniformly *with replacement* from the
training set by ``fold_in(key, n)`` at step ``n`` (a Markov chain whose noise does not depend
on where the run is recorded, as for the Langevin integrators), the update made by
``optax.sgd(learning_rate, momentum)``.  It is a :class:`physjax.kernels.Kernel`
(:class:`MinibatchSGDKernel`, whose model is the :class:`MinibatchSGD`; learning rate,
weight decay and momentum are traced arrays, so a sweep over them compiles once).
:func:`run_sgd` runs it with :func:`physjax.kernels.run` (scan-only: ``jax.grad``
differentiates through a run): at each record the full-batch
training and test losses (and accuracies for classification) and, optionally, the
flattened parameters.  A step whose loss, gradient or parameters are not finite leaves the
state unchanged and sets ``diverged_at`` (nothing is returned as NaN).

**Width by a mask**: the network is a :class:`physjax.dynamics.mlp.MaskedMLP`; see
:mod:`physjax.dynamics.mlp`.

**Sweeps**.  :func:`sgd_width_sweep` runs every (width, replica) pair as one sharded
:func:`physjax.ensemble.sweep` (vmap within a device, sharding across devices); the task's
data are constants of the compiled program (the ensemble engine passes only the grid as
arguments), which is fine for data sets of the size of the digits.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from physjax._array_types import Array, ArrayLike, Float, Int, Key, PyTree, Real, Scalar, Size
from physjax._checks import (
    check_choice,
    check_finite,
    check_key,
    check_positive_int,
    check_step_schedule,
    is_concrete,
)
from physjax._options import Loss
from physjax.dynamics._common import (
    Steps,
    check_activation,
    check_scalar,
    guard_hyperparameter,
    hyperparameter,
    same_layout,
)
from physjax.dynamics._recorded import recorded_run, static_steps
from physjax.dynamics._tree import _all_finite, _freeze_diverged
from physjax.dynamics.aging import mean_square_displacement
from physjax.dynamics.integrators import DynamicsInfo
from physjax.dynamics.mlp import MaskedMLP, masked_mlp, mlp_parameter_count
from physjax.kernels import Kernel

__all__ = [
    "Loss",
    "SupervisedTask",
    "MinibatchSGD",
    "MinibatchSGDKernel",
    "SGDState",
    "SGDRecord",
    "init_sgd",
    "sgd_step",
    "run_sgd",
    "WidthSweep",
    "sgd_width_sweep",
]


# --------------------------------------------------------------------------- the data

class SupervisedTask(eqx.Module):
    """A training and a test set and the loss :math:`\\ell`.

    ``loss = "cross_entropy"``: integer labels ``y`` in ``0..C-1``, the network outputs
    ``C`` logits, :math:`\\ell = \\log\\sum_c e^{f_c} - f_y`; accuracies are recorded.
    ``loss = "mse"``: real targets of shape ``(m, d_out)``, :math:`\\ell = |f - y|^2/d_{out}`.
    The loss of a set is the mean of :math:`\\ell` over it.

    Attributes:
        x_train, y_train, x_test, y_test: the data, inputs of shape ``(m, in_size)``.
        loss: ``"cross_entropy"`` or ``"mse"`` (static).
    """

    x_train: Array
    y_train: Array
    x_test: Array
    y_test: Array
    loss: Loss = eqx.field(static=True)

    def __check_init__(self):
        check_choice(self.loss, "loss", Loss)
        for name in ("x_train", "x_test"):
            x = getattr(self, name)
            if x.ndim != 2:
                raise ValueError(f"{name} must have shape (m, in_size), got {x.shape}")
            check_finite(x, name)
        for xn, yn in (("x_train", "y_train"), ("x_test", "y_test")):
            if getattr(self, yn).shape[0] != getattr(self, xn).shape[0]:
                raise ValueError(f"{yn} must have as many rows as {xn}")
            want = 1 if self.loss == "cross_entropy" else 2
            if getattr(self, yn).ndim != want:
                raise ValueError(f"{yn} must be {want}-D for loss={self.loss!r}, got shape "
                                 f"{getattr(self, yn).shape}")

    @property
    def in_size(self) -> int:
        return self.x_train.shape[1]

    @property
    def n_train(self) -> int:
        return self.x_train.shape[0]

    def mean_loss(self, net: Callable[..., Any], x: Real[ArrayLike, "m d"],
                  y: Real[ArrayLike, " m"] | Real[ArrayLike, "m k"]) -> Float[Array, ""]:
        """Mean loss of ``net`` (one input -> outputs) on ``(x, y)``."""
        out = jax.vmap(net)(x)
        if self.loss == "cross_entropy":
            return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(out, y))
        return jnp.mean(jnp.square(out - y))

    def accuracy(self, net: Callable[..., Any], x: Real[ArrayLike, "m d"],
                 y: Real[ArrayLike, " m"]) -> Float[Array, ""]:
        """Fraction of correctly classified inputs (argmax of the logits)."""
        return jnp.mean(jnp.argmax(jax.vmap(net)(x), axis=-1) == y)


# ---------------------------------------------------------------------- the dynamics

class MinibatchSGD(eqx.Module):
    """Minibatch SGD on ``task`` (see the module docs): ``optax.sgd(learning_rate,
    momentum)`` on minibatches of ``batch_size`` drawn with replacement, optionally with
    weight decay (``optax.add_decayed_weights``: the loss gains
    :math:`\\tfrac{\\lambda}{2}|w|^2`, which gives the landscape a bottom at finite
    :math:`|w|` also for a cross-entropy loss on separable data).  Its kernel:
    :class:`MinibatchSGDKernel`.

    Attributes:
        task: a :class:`SupervisedTask`.
        learning_rate: :math:`\\eta > 0` (a scalar array; may be traced, e.g. swept).
        weight_decay: :math:`\\lambda \\ge 0` (a scalar array).
        momentum: ``None`` (plain SGD) or the heavy-ball coefficient in :math:`[0, 1)` (a
            scalar array).
        batch_size: :math:`B` (static).
    """

    task: SupervisedTask
    learning_rate: Array
    weight_decay: Array
    momentum: Array | None
    batch_size: int = eqx.field(static=True)

    def __init__(self, task: SupervisedTask, learning_rate: Scalar, batch_size: int, *,
                 momentum: Scalar | None = None, weight_decay: Scalar = 0.0):
        if not isinstance(task, SupervisedTask):
            raise TypeError(f"task must be a SupervisedTask, got {type(task).__name__}")
        self.learning_rate = hyperparameter(learning_rate, "learning_rate", positive=True)
        self.weight_decay = hyperparameter(weight_decay, "weight_decay", positive=False)
        batch_size = check_positive_int(batch_size, "batch_size")
        if batch_size > task.n_train:
            raise ValueError(f"batch_size must be <= the number of training samples "
                             f"{task.n_train}, got {batch_size}")
        if momentum is not None:
            momentum = hyperparameter(momentum, "momentum", positive=False)
            if is_concrete(momentum) and not float(momentum) < 1:
                raise ValueError(f"momentum must be None or in [0, 1), got {momentum}")
        self.task, self.batch_size, self.momentum = task, batch_size, momentum

    @property
    def optimizer(self) -> optax.GradientTransformation:
        """``add_decayed_weights(weight_decay)`` then ``sgd(learning_rate, momentum)``."""
        return optax.chain(optax.add_decayed_weights(self.weight_decay),
                           optax.sgd(self.learning_rate, self.momentum))

    @property
    def kernel(self) -> MinibatchSGDKernel:
        return MinibatchSGDKernel()


class SGDState(NamedTuple):
    """State of one SGD run.

    Attributes:
        network: the current :class:`MaskedMLP`.
        opt_state: the optax state of ``network.layers``.
        loss: minibatch loss of the last step (full training loss at init).
        step: steps taken (int32).
        diverged_at: -1 while finite; else the 1-based index of the step that produced a
            non-finite loss, gradient or parameter (the state is frozen before it).
    """

    network: MaskedMLP
    opt_state: PyTree
    loss: Array
    step: Array
    diverged_at: Array


class SGDRecord(NamedTuple):
    """Observables recorded by :func:`run_sgd` (leading axis: the records).

    Attributes:
        step: absolute step of each record.
        train_loss, test_loss: full-batch losses.
        train_accuracy, test_accuracy: for ``cross_entropy`` tasks, else ``None``.
        parameters: flattened parameters (``MaskedMLP.flat_parameters``) when recorded,
            else ``None``.
        diverged: True where the run had stopped on a non-finite value before the record.
    """

    step: Array
    train_loss: Array
    test_loss: Array
    train_accuracy: Array | None
    test_accuracy: Array | None
    parameters: Array | None
    diverged: Array


def _check_sgd(sgd, name="sgd"):
    if not isinstance(sgd, MinibatchSGD):
        raise TypeError(f"{name} must be a MinibatchSGD, got {type(sgd).__name__}")


def _check_network(network, task):
    if not isinstance(network, MaskedMLP):
        raise TypeError(f"network must be a MaskedMLP (see masked_mlp, embed_mlp), got "
                        f"{type(network).__name__}")
    if network.layers[0].in_features != task.in_size:
        raise ValueError(f"network takes {network.layers[0].in_features} inputs but the "
                         f"task has {task.in_size} features")


def _guarded(sgd):
    names = [("learning_rate", True), ("weight_decay", False)]
    if sgd.momentum is not None:
        names.append(("momentum", False))
    for name, positive in names:
        value = guard_hyperparameter(getattr(sgd, name), name, positive=positive)
        check_scalar(value, name)
        if name == "momentum":
            if is_concrete(value):
                if not float(np.asarray(value)) < 1:
                    raise ValueError(f"momentum must be in [0, 1), got {value}")
            else:
                value = eqx.error_if(value, value >= 1, "momentum must be in [0, 1)")
        sgd = eqx.tree_at(lambda m, name=name: getattr(m, name), sgd, value)
    return sgd


def _check_state(sgd, state, name="state"):
    """Shape/dtype checks of ``state`` against ``sgd`` (trace time)."""
    if not isinstance(state, SGDState):
        raise TypeError(f"{name} must be an SGDState (from init_sgd or "
                        f"sgd.kernel.init), got {type(state).__name__}")
    for field in ("loss", "step", "diverged_at"):
        if np.ndim(getattr(state, field)) != 0:
            raise ValueError(f"{name} must be the state of one run ({name}.{field} of shape "
                             f"(), got {np.shape(getattr(state, field))}); vmap over runs")
    for field in ("step", "diverged_at"):
        if jnp.result_type(getattr(state, field)) != jnp.int32:
            raise TypeError(f"{name}.{field} must be int32, got "
                            f"{jnp.result_type(getattr(state, field))}")
    if not isinstance(state.network, MaskedMLP):
        raise TypeError(f"{name}.network must be a MaskedMLP, got "
                        f"{type(state.network).__name__}")
    if state.network.layers[0].in_features != sgd.task.in_size:
        raise ValueError(f"{name}.network takes {state.network.layers[0].in_features} inputs "
                         f"but the task has {sgd.task.in_size} features (a state of another "
                         f"model?)")
    try:
        loss, opt_state = eqx.filter_eval_shape(
            lambda m, net: (m.task.mean_loss(net, m.task.x_train, m.task.y_train),
                            m.optimizer.init(net.layers)), sgd, state.network)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name}.network does not fit the task of this model: {err}") from err
    if loss.dtype != jnp.result_type(state.loss):
        raise ValueError(f"{name} does not fit this model: the task's loss is {loss.dtype}, "
                         f"the state holds {jnp.result_type(state.loss)} (another dtype?)")
    if not same_layout(opt_state, state.opt_state, dtypes=True):
        raise ValueError(f"{name}.opt_state does not fit this model's optimizer (a state of "
                         f"an SGD with or without momentum, or of another network?)")


def _init(sgd, network):
    task = sgd.task
    loss = task.mean_loss(network, task.x_train, task.y_train)
    return SGDState(network=network, opt_state=sgd.optimizer.init(network.layers),
                    loss=loss, step=jnp.zeros((), jnp.int32),
                    diverged_at=jnp.where(jnp.isfinite(loss), -1, 0).astype(jnp.int32))


def _step(key, sgd, state) -> tuple[SGDState, DynamicsInfo]:
    task, net = sgd.task, state.network
    idx = jax.random.randint(key, (sgd.batch_size,), 0, task.n_train)
    xb, yb = task.x_train[idx], task.y_train[idx]

    def loss_of(layers):
        return task.mean_loss(eqx.tree_at(lambda n: n.layers, net, layers), xb, yb)

    loss, grads = jax.value_and_grad(loss_of)(net.layers)
    grads = jax.tree.map(lambda g, m: g * m, grads, net.parameter_mask())
    updates, opt_state = sgd.optimizer.update(grads, state.opt_state, net.layers)
    layers = optax.apply_updates(net.layers, updates)
    new = SGDState(network=eqx.tree_at(lambda n: n.layers, net, layers),
                   opt_state=opt_state, loss=loss, step=state.step + 1,
                   diverged_at=state.diverged_at)
    new = jax.tree.map(lambda a, b: jnp.asarray(a, jnp.result_type(b)), new, state)
    out, accept = _freeze_diverged(state, new, _all_finite(loss, grads, layers))
    return out, DynamicsInfo(accepted=accept)


_init_jit = eqx.filter_jit(_init)
_step_jit = eqx.filter_jit(_step)


class MinibatchSGDKernel(Kernel):
    """The kernel of :class:`MinibatchSGD` (its ``model``): one optax step on the minibatch
    drawn with ``key``.  No fields (``batch_size`` is a static field of the model)."""

    def init(self, key: Key | None, model: MinibatchSGD, network: MaskedMLP) -> SGDState:
        """Optimizer state and full training loss at ``network`` (``key`` is unused: the
        network is drawn by :func:`masked_mlp`).  Traceable."""
        del key
        _check_sgd(model, "model")
        _check_network(network, model.task)
        return _init_jit(model, network)

    def step(self, key: Key, model: MinibatchSGD,
             state: SGDState) -> tuple[SGDState, DynamicsInfo]:
        """One SGD step; a non-finite loss, gradient or parameter freezes the state and
        sets ``diverged_at``.  (One compiled program when called eagerly; inlined when
        traced.)"""
        return _step_jit(key, model, state)

    def check(self, model: MinibatchSGD,
              state: SGDState) -> tuple[MinibatchSGD, SGDState]:
        """The model's type and hyperparameters (``ValueError`` or ``equinox.error_if``)
        and the state's shapes and dtypes against the model."""
        _check_sgd(model, "model")
        model = _guarded(model)
        _check_state(model, state)
        return model, state


def init_sgd(key: Key | MinibatchSGD, sgd: MinibatchSGD | MaskedMLP,
             network: MaskedMLP | None = None) -> SGDState:
    """Initial state (optimizer state, full training loss) of SGD from ``network``
    (``sgd.kernel.init`` with the input checks; ``key`` is unused, the first argument of
    every init).  The older form ``init_sgd(sgd, network)`` is still accepted."""
    if network is None and isinstance(key, MinibatchSGD):     # init_sgd(sgd, network)
        key, sgd, network = None, key, sgd
    else:
        check_key(key, traced=True)
    _check_sgd(sgd)
    _check_network(network, sgd.task)
    return _init_jit(sgd, network)


@eqx.filter_jit
def sgd_step(key: Key, sgd: MinibatchSGD, state: SGDState) -> SGDState:
    """One SGD step on the minibatch drawn with ``key`` (the state of
    ``sgd.kernel.step``)."""
    return _step(key, sgd, state)[0]


class _SGDObserver(eqx.Module):
    record_parameters: bool = eqx.field(static=True)

    def __call__(self, sgd, state, n):
        task, net = sgd.task, state.network
        classify = task.loss == "cross_entropy"
        diverged = state.diverged_at >= 0

        def loss(x, y):  # the frozen state of a diverged run may overflow: +inf, never NaN
            value = task.mean_loss(net, x, y)
            return jnp.where(diverged & ~jnp.isfinite(value), jnp.inf, value)

        return SGDRecord(
            step=n,
            train_loss=loss(task.x_train, task.y_train),
            test_loss=loss(task.x_test, task.y_test),
            train_accuracy=(task.accuracy(net, task.x_train, task.y_train) if classify
                            else None),
            test_accuracy=task.accuracy(net, task.x_test, task.y_test) if classify else None,
            parameters=net.flat_parameters() if self.record_parameters else None,
            diverged=diverged)


def _run(key, sgd, state, steps, record_parameters):
    """``run_sgd`` without the checks (``steps``: a static tuple); traceable."""
    return recorded_run(MinibatchSGDKernel(), key, sgd, state, state.step, steps,
                         _SGDObserver(record_parameters))


_run_jit = eqx.filter_jit(_run)


def run_sgd(key: Key, sgd: MinibatchSGD, state: SGDState, record_steps: Steps, *,
            record_parameters: bool = True) -> tuple[SGDState, SGDRecord]:
    """Run SGD (``sgd.kernel`` in :func:`physjax.kernels.run`, one compiled program) and
    record at ``record_steps`` (static, strictly increasing, counted from the start of this
    run; e.g. ``log_spaced_steps(10_000, 40)`` or
    :func:`~physjax.dynamics.aging.aging_schedule`).  Step ``n`` (absolute counter
    ``state.step``) draws its minibatch with ``fold_in(key, n)``, so continuing a run with
    the same key reproduces one long run.  Returns ``(final_state, record)``; check
    ``final_state.diverged_at`` (-1 when every step stayed finite).  The losses recorded
    after a divergence are those of the frozen last finite parameters (``+inf`` where they
    overflow), flagged by ``record.diverged``."""
    steps = static_steps(record_steps)
    _check_sgd(sgd)
    if not isinstance(state, SGDState):
        raise TypeError(f"state must be an SGDState (from init_sgd), got "
                        f"{type(state).__name__}")
    return _run_jit(key, sgd, state, steps, bool(record_parameters))


# ------------------------------------------------------------------------ width sweeps

class WidthSweep(NamedTuple):
    """Result of :func:`sgd_width_sweep`.

    Attributes:
        widths: the hidden widths, shape ``(G,)``.
        record_steps: the schedule of the records.
        record: an :class:`SGDRecord` whose leaves have leading axes
            ``(G, R, n_records)`` (numpy).
        n_parameters: active parameters per width, shape ``(G,)``.
        max_width: the common width of the masked networks.
    """

    widths: np.ndarray
    record_steps: np.ndarray
    record: SGDRecord
    n_parameters: np.ndarray
    max_width: int

    def mean_square_displacement(
            self, waiting_steps: Real[ArrayLike, " w"] | Scalar | Sequence[Scalar],
            lag_steps: Real[ArrayLike, " l"] | Scalar | Sequence[Scalar]
    ) -> Float[np.ndarray, "g r w l"]:
        """:math:`\\Delta(t_w, t_w + t) = |w(t_w + t) - w(t_w)|^2/N_w` per *active*
        parameter (:math:`N_w` = ``n_parameters``), shape ``(G, R, n_w, n_lag)``."""
        if self.record.parameters is None:
            raise ValueError("the sweep did not record the parameters "
                             "(record_parameters=False)")
        pos = self.record.parameters
        msd = np.asarray(mean_square_displacement(pos, self.record_steps, waiting_steps,
                                                  lag_steps))
        scale = pos.shape[-1] / self.n_parameters
        return msd * scale[:, None, None, None]


def sgd_width_sweep(key: Key, sgd: MinibatchSGD, widths: Int[ArrayLike, "*_g"] | Sequence[Size],
                    n_replicas: int, record_steps: Steps, *, max_width: int | None = None,
                    out_size: int | None = None, depth: int = 1,
                    activation: Callable[..., Any] = jax.nn.relu,
                    record_parameters: bool = True, chunk_size: int | None = None,
                    out_dir: str | os.PathLike[str] | None = None,
                    progress: bool = False) -> WidthSweep:
    """SGD from independent random initializations for every (width, replica) pair, as one
    sharded :func:`physjax.ensemble.sweep` over the grid ``{"width": widths}``: one compiled
    function serves every width (a :class:`MaskedMLP` of ``max_width``, default
    ``max(widths)``).  Replica ``r`` at width index ``g`` uses
    ``fold_in(fold_in(key, g), r)`` for its initialization and its minibatches.
    ``out_size`` defaults to the number of classes (cross-entropy) or of targets (MSE).
    ``out_dir``: resumable checkpoints (see :func:`physjax.ensemble.sweep`)."""
    from physjax.ensemble import sweep

    if not isinstance(sgd, MinibatchSGD):
        raise TypeError(f"sgd must be a MinibatchSGD, got {type(sgd).__name__}")
    w = np.asarray(widths).reshape(-1)
    if w.size == 0 or not np.issubdtype(w.dtype, np.integer) or np.any(w < 1):
        raise ValueError(f"widths must be a non-empty list of integers >= 1, got {widths!r}")
    max_width = int(w.max()) if max_width is None else check_positive_int(max_width,
                                                                          "max_width")
    if w.max() > max_width:
        raise ValueError(f"max_width must be >= max(widths) = {w.max()}, got {max_width}")
    n_replicas = check_positive_int(n_replicas, "n_replicas")
    depth = check_positive_int(depth, "depth")
    check_activation(activation)
    steps = check_step_schedule(record_steps, "record_steps")
    task = sgd.task
    if out_size is None:
        out_size = (int(np.max(np.asarray(task.y_train))) + 1 if task.loss == "cross_entropy"
                    else task.y_train.shape[1])
    out_size = check_positive_int(out_size, "out_size")
    dtype = task.x_train.dtype
    lr = sgd.learning_rate
    mom = sgd.momentum
    tag = {"max_width": max_width, "depth": depth, "steps": steps.tolist(),
           "batch_size": sgd.batch_size, "loss": task.loss,
           "momentum": float(mom) if mom is not None and is_concrete(mom) else None,
           "learning_rate": float(lr) if is_concrete(lr) else None,
           "weight_decay": (float(sgd.weight_decay) if is_concrete(sgd.weight_decay)
                            else None),
           "activation": getattr(activation, "__name__", repr(activation))}

    def sgd_at_width(k, point):
        k_init, k_run = jax.random.split(k)
        net = masked_mlp(k_init, task.in_size, out_size, max_width, point["width"],
                         depth=depth, activation=activation, dtype=dtype)
        _, record = _run(k_run, sgd, _init(sgd, net), tuple(steps.tolist()),
                         record_parameters)
        return record

    result = sweep(sgd_at_width, key, {"width": w.astype(np.int32)}, n_replicas,
                   chunk_size=chunk_size, out_dir=out_dir, progress=progress, tag=tag)
    return WidthSweep(widths=w, record_steps=steps, record=result.values,
                      n_parameters=mlp_parameter_count(task.in_size, out_size, w,
                                                       depth=depth),
                      max_width=max_width)
