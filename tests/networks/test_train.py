"""One learning layer for resistor and spring networks: the rules written once
(physjax.networks.learning), one ``train`` that compiles once per static configuration and
takes traced hyperparameters."""

import typing

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from physjax import graphs as G
from physjax import networks as N
from physjax.networks import spring_learning as sl
from physjax.networks import strain as st
from tests.helpers import CompileCounter, central_difference

from . import spring_helpers as H

SEED_TASK = [[0.15, 0.3], [0.2, 0.1]]


@pytest.fixture(autouse=True)
def x64():
    with jax.enable_x64(True):
        yield


def resistor_problem(L=5):
    g = G.square_grid(L)
    n = L * L
    task = N.make_task([0, L - 1], [n // 2, n // 2 + 1], jnp.array([[1.0, 0.5], [0.3, -0.2]]),
                       coefficients=SEED_TASK, ground_nodes=[n - 1], n_nodes=n)
    k = jnp.asarray(np.random.default_rng(0).uniform(0.5, 1.5, g.n_edges))
    return g, k, task


def spring_problem():
    net = H.perturbed_triangular()
    task = st.allostery_task(net, [0, 6], [18, 24], ratio=0.5)
    return net, jnp.asarray(H.random_stiffnesses(net)), task


@pytest.mark.parametrize("rule", typing.get_args(N.LearningRule))
@pytest.mark.parametrize("kind", ["resistor", "spring"])
def test_one_train_trains_both_kinds_with_every_rule(kind, rule):
    net, k, task = resistor_problem() if kind == "resistor" else spring_problem()
    lr = 2.0 if kind == "resistor" else 0.5
    res = N.train(net, k, task, rule=rule, n_steps=400, learning_rate=lr, eta=1e-2,
                  optimizer=optax.adam(0.02), record_every=100)
    assert isinstance(res, N.TrainResult)
    assert N.kind_of(net, task).name == kind
    assert float(res.final_cost) < 0.1 * float(res.cost[0])      # it learns
    assert res.snapshots.shape == (5, net.n_edges)
    np.testing.assert_array_equal(res.snapshots[0], k)
    params = res.conductances if kind == "resistor" else res.stiffnesses
    assert float(params.min()) >= 1e-3 and float(params.max()) <= 1e3
    # the recorded final cost is the cost of the returned parameters, from scratch
    if kind == "resistor":
        ref = N.cost(net, params, task, solver="dense")
    else:
        ref = sl.strain_cost(net, params, task, solver="dense")
    np.testing.assert_allclose(res.final_cost, ref, rtol=1e-8, atol=1e-14 * float(res.cost[0]))


def test_spring_equilibrium_propagation_tends_to_the_cost_gradient():
    """The nudged spring states (new): centred EP -> ∇C with O(β²) error, one-sided with
    O(β); ∇C itself against central finite differences of the cost."""
    net, k, task = spring_problem()
    c, (g_k, g_l0), _ = st.cost_gradient(net, k, task)
    cost = lambda kk: sl.strain_cost(net, kk, task, solver="dense", check=False)  # noqa: E731
    for i in (0, 7, 30):
        np.testing.assert_allclose(central_difference(cost, k, i), g_k[i], rtol=1e-6,
                                   atol=1e-10)
    errs = {}
    for nudge in ("centred", "positive"):
        errs[nudge] = []
        for beta in (1e-2, 1e-3):
            _, (e_k, e_l0), _ = N.learning_direction("equilibrium_propagation", net, k, task,
                                                     eta=beta, nudge=nudge)
            errs[nudge].append(float(jnp.linalg.norm(e_k - g_k) / jnp.linalg.norm(g_k)))
            np.testing.assert_allclose(e_l0, g_l0, rtol=0,
                                       atol=10 * beta * float(jnp.abs(g_l0).max()))
    assert errs["centred"][1] < 1e-4
    assert 50 < errs["centred"][0] / errs["centred"][1] < 200      # O(β²)
    assert 5 < errs["positive"][0] / errs["positive"][1] < 20      # O(β)


def test_energy_regularization_goes_through_the_same_rule_for_resistors():
    """Coupled learning with λ uses 2[∂P(V^C) - (1+λ)∂P(V^F)]/η, from the states."""
    g, k, task = resistor_problem()
    eta, lam = 1e-2, 0.3
    _, grad, _ = N.learning_direction("coupled_learning", g, k, task, eta=eta,
                                      energy_regularization=lam)
    vf = N.free_state(g, k, task, solver="dense")
    vc = N.clamped_state(g, k, task, eta, solver="dense")
    dvf = np.asarray(G.edge_differences(g, vf))
    dvc = np.asarray(G.edge_differences(g, vc))
    ref = 2 * (0.5 * (dvc**2).mean(0) - (1 + lam) * 0.5 * (dvf**2).mean(0)) / eta
    np.testing.assert_allclose(grad, ref, rtol=1e-9, atol=1e-14)


def test_nonlinear_resistors_train_through_the_same_path():
    g, k, task = resistor_problem()
    current = N.cubic_current(0.5)
    c, grad, _ = N.learning_direction("double_optimization", g, k, task, current=current)
    cost = lambda kk: N.cost(g, kk, task, current=current, check=False)  # noqa: E731
    for i in (0, 11):
        np.testing.assert_allclose(central_difference(cost, k, i), grad[i], rtol=1e-6)
    res = N.train(g, k, task, rule="equilibrium_propagation", n_steps=50, learning_rate=2.0,
                  current=current)
    assert float(res.final_cost) < float(res.cost[0])


def test_train_compiles_once_per_static_configuration():
    g, k, task = resistor_problem(6)
    kw = dict(rule="coupled_learning", n_steps=20)
    jax.block_until_ready(N.train(g, k, task, learning_rate=0.1, **kw))
    # new numbers: learning rate, eta, conductances, targets (built before counting)
    task2 = N.make_task(task.source_nodes, task.target_nodes, task.inputs * 0.5,
                        task.desired, ground_nodes=task.ground_nodes)
    k2 = jax.block_until_ready(1.1 * k)
    with CompileCounter() as counter:
        jax.block_until_ready(N.train(g, k2, task2, learning_rate=0.05, eta=2e-3, **kw))
        jax.block_until_ready(N.train(g, k, task, learning_rate=0.3, k_max=50.0, **kw))
    assert counter.count == 0
    with CompileCounter() as counter:                       # a static change compiles
        jax.block_until_ready(N.train(g, k, task, learning_rate=0.1, rule="coupled_learning",
                                      n_steps=21))
    assert counter.count >= 1
    # the entry points too
    jax.block_until_ready(N.free_state(g, k, task))
    jax.block_until_ready(N.cost_hessian(g, k, task))
    jax.block_until_ready(N.clamped_state(g, k, task, 0.3))
    k2 = jax.block_until_ready(2 * k)
    with CompileCounter() as counter:
        jax.block_until_ready(N.free_state(g, k2, task))
        jax.block_until_ready(N.cost_hessian(g, k2, task))
        jax.block_until_ready(N.clamped_state(g, k, task, 0.2))    # a new eta
    assert counter.count == 0


@pytest.mark.parametrize("solver", ["banded", "multifrontal"])
def test_train_with_a_plan_on_a_concrete_graph_has_no_host_callback(solver):
    # resolve() compared the concrete edges with the plan on the host, so the loop takes the
    # plan's edges as constants: no per-step equinox.error_if (a host callback, which also
    # keeps JAX's persistent compilation cache from storing the executable)
    g, k, task = resistor_problem(6)
    kw = dict(rule="coupled_learning", n_steps=5, learning_rate=0.1, solver=solver)
    jaxpr = str(jax.make_jaxpr(lambda kk: N.train(g, kk, task, check=False, **kw))(k))
    assert "callback" not in jaxpr
    np.testing.assert_allclose(N.train(g, k, task, **kw).conductances,
                               N.train(g, k, task, **{**kw, "solver": "dense"}).conductances,
                               rtol=1e-10)
    # a traced graph is still checked against the plan, every step
    plan = N.resolve_solver(solver, g, task)
    traced = str(jax.make_jaxpr(lambda gr: N.train(gr, k, task, check=False,
                                                   **{**kw, "solver": plan}))(g))
    assert "callback" in traced
    shuffled = G.Graph(np.asarray(g.edges)[::-1], g.n_nodes)
    with pytest.raises(Exception, match="plan was built for another graph"):
        jax.block_until_ready(jax.jit(lambda gr: N.train(gr, k, task, check=False,
                                                         **{**kw, "solver": plan}))(shuffled))


def test_spring_train_compiles_once_and_matches_train_springs():
    net, k, task = spring_problem()
    a = sl.train_springs(net, k, task, n_steps=10, learning_rate=0.2)
    with CompileCounter() as counter:
        b = N.train(net, k, task, rule="coupled_learning", eta=1e-2, n_steps=10,
                    learning_rate=0.2)
        jax.block_until_ready(N.train(net, k, task, rule="coupled_learning", n_steps=10,
                                      learning_rate=0.4, energy_regularization=0.1))
    assert counter.count == 0
    np.testing.assert_array_equal(a.stiffnesses, b.stiffnesses)


def test_train_vmaps_over_traced_hyperparameters():
    g, k, task = resistor_problem()
    lrs = jnp.array([0.1, 0.5, 1.0])

    def final(lr, eta):
        return N.train(g, k, task, rule="coupled_learning", n_steps=30, learning_rate=lr,
                       eta=eta, check=False).final_cost

    out = jax.vmap(final, in_axes=(0, None))(lrs, 1e-2)
    for i, lr in enumerate(lrs):
        np.testing.assert_allclose(out[i], final(float(lr), 1e-2), rtol=1e-10)
    etas = jnp.array([1e-3, 1e-1])
    out = jax.jit(jax.vmap(final, in_axes=(None, 0)))(0.5, etas)
    for i, eta in enumerate(etas):
        np.testing.assert_allclose(out[i], final(0.5, float(eta)), rtol=1e-10)


def test_train_inside_a_users_jit_with_nothing_traced():
    """At top level `train` compiles with per-function XLA options (physjax._compile), which
    JAX refuses on a nested jit; called inside a user's `jax.jit` with only constants (no
    tracer among its arguments) it falls back to the plain compilation, same numbers."""
    g, k, task = resistor_problem()

    def run():
        return N.train(g, k, task, rule="coupled_learning", n_steps=30, learning_rate=0.5)

    inside = jax.jit(lambda: run().conductances)()
    np.testing.assert_allclose(inside, run().conductances, rtol=1e-12)


def test_compile_options_apply_only_at_top_level_on_the_cpu(monkeypatch):
    """physjax._compile: the XLA:CPU options are used for a top-level call on the CPU, and
    the plain compilation inside a trace (jit, vmap) or when the default backend is not
    the CPU; every path gives the same numbers."""
    from physjax._compile import FAST_CPU_COMPILE, filter_jit_with_options

    f = filter_jit_with_options(FAST_CPU_COMPILE)(lambda x: jnp.sin(x) * 2)
    used = []
    for attr in ("_plain", "_tuned"):
        inner = getattr(f, attr)
        monkeypatch.setattr(f, attr, lambda *a, _f=inner, _n=attr: used.append(_n) or _f(*a))
    x = jnp.linspace(0.0, 1.0, 3)
    want = np.sin(np.asarray(x)) * 2
    np.testing.assert_allclose(f(x), want, rtol=1e-6)
    np.testing.assert_allclose(jax.jit(f)(x), want, rtol=1e-6)
    np.testing.assert_allclose(jax.vmap(f)(x[:, None])[:, 0], want, rtol=1e-6)
    monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
    np.testing.assert_allclose(f(x), want, rtol=1e-6)
    assert used == ["_tuned", "_plain", "_plain", "_plain"]


def test_train_refuses_bad_input_naming_the_argument():
    g, k, task = resistor_problem()
    net, ks, stask = spring_problem()
    cases = [
        (dict(rule="hebbian"), ValueError, "rule"),
        (dict(nudge="sideways"), ValueError, "nudge"),
        (dict(n_steps=0), ValueError, "n_steps"),
        (dict(n_steps=10, record_every=3), ValueError, "record_every"),
        (dict(learning_rate=-1.0), ValueError, "learning_rate"),
        (dict(eta=0.0), ValueError, "eta"),
        (dict(k_min=1.0, k_max=0.5), ValueError, "k_max"),
        (dict(energy_regularization=np.nan), ValueError, "energy_regularization"),
        (dict(learn_rest_lengths=True), ValueError, "rest_lengths"),
        (dict(optimizer="adam"), TypeError, "optimizer"),
        (dict(solver="lu"), ValueError, "solver"),
    ]
    for kwargs, err, match in cases:
        with pytest.raises(err, match=match):
            N.train(g, k, task, **kwargs)
    with pytest.raises(ValueError, match="conductances"):
        N.train(g, k.at[0].set(np.inf), task)
    with pytest.raises(ValueError, match="stiffnesses"):
        N.train(net, ks.at[0].set(-1.0), stask)
    with pytest.raises(ValueError, match="current"):
        N.train(net, ks, stask, current=N.cubic_current(1.0))
    with pytest.raises(TypeError, match="network must be a SpringNetwork"):
        N.train(g, k, stask)
