"""One ``solver=`` for resistor and spring networks (physjax.networks.solvers): every solver
gives the same states and gradients, Auto follows its table, and bad solvers or plans are
refused with errors naming the argument."""

import typing

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from physjax import graphs as G
from physjax import networks as N
from physjax.networks import solvers as S
from physjax.networks import strain as st

from . import spring_helpers as H
from .test_spring_banded import network as spring_network

SEED_TASK = [[0.15, 0.3], [0.2, 0.1]]
ALL = {"dense": S.Dense(), "banded": S.Banded(), "multifrontal": S.Multifrontal(),
       "cg": S.CG(), "auto": S.Auto()}


@pytest.fixture(autouse=True)
def x64():
    with jax.enable_x64(True):
        yield


def cubic_graph(shape=(8, 7, 6)):
    idx = np.stack(np.meshgrid(*map(np.arange, shape), indexing="ij"), -1).reshape(-1, 3)
    i, j = np.triu_indices(len(idx), 1)
    keep = np.sum(np.abs(idx[i] - idx[j]), axis=1) == 1
    return G.Graph(np.stack([i[keep], j[keep]], 1), len(idx))


def resistor_network(name):
    g = {"free 2-D": lambda: G.square_grid(18),
         "periodic 2-D": lambda: G.square_grid(18, periodic=True),
         "3-D": cubic_graph}[name]()
    n = g.n_nodes
    task = N.make_task([0, n // 3], [n // 2, (2 * n) // 3], jnp.array([[1.0, 0.5], [0.3, -0.2]]),
                       coefficients=SEED_TASK, ground_nodes=[n - 1], n_nodes=n)
    k = jnp.asarray(np.random.default_rng(0).uniform(0.5, 1.5, g.n_edges))
    return g, k, task


# the periodic and 3-D networks repeat the check on other sparsity patterns (about 40 s each)
@pytest.mark.parametrize("name", ["free 2-D", pytest.param("periodic 2-D", marks=pytest.mark.slow),
                                  pytest.param("3-D", marks=pytest.mark.slow)])
def test_every_resistor_solver_gives_the_same_state_and_gradients(name):
    g, k, task = resistor_network(name)
    assert N.resolve_solver("auto", g, task) != S.Dense()     # > 256 free nodes: sparse
    ref_v = np.asarray(N.free_state(g, k, task, solver="dense"))
    _, ref_g, _ = N.double_optimization_gradient(g, k, task, solver="dense")
    ref_ad = np.asarray(jax.grad(lambda kk: N.cost(g, kk, task, solver="dense",
                                                   check=False))(k))
    np.testing.assert_allclose(ref_g, ref_ad, rtol=1e-10, atol=1e-12 * np.abs(ref_ad).max())
    for label, solver in ALL.items():
        v = np.asarray(N.free_state(g, k, task, solver=solver))
        np.testing.assert_allclose(v, ref_v, rtol=0, atol=1e-10 * np.abs(ref_v).max(),
                                   err_msg=label)
        _, grad, _ = N.double_optimization_gradient(g, k, task, solver=solver)
        ad = jax.grad(lambda kk, s=solver: N.cost(g, kk, task, solver=s, check=False))(k)
        for x in (grad, ad):
            np.testing.assert_allclose(x, ref_g, rtol=0, atol=1e-10 * np.abs(ref_g).max(),
                                       err_msg=label)


@pytest.mark.parametrize("name", ["free 2-D", pytest.param("periodic 2-D", marks=pytest.mark.slow),
                                  pytest.param("free 3-D", marks=pytest.mark.slow)])
def test_every_spring_solver_gives_the_same_response_and_gradients(name):
    net, pairs = spring_network(name)
    k = jnp.asarray(H.random_stiffnesses(net))
    task = st.allostery_task(net, pairs[0], pairs[1], ratio=0.5)
    c_ref, (gk_ref, gl_ref), resp_ref = st.cost_gradient(net, k, task, solver="dense")
    for label, solver in ALL.items():
        c, (gk, gl), resp = st.cost_gradient(net, k, task, solver=solver)
        np.testing.assert_allclose(c, c_ref, rtol=1e-10, err_msg=label)
        ref = np.asarray(resp_ref.compliance)
        np.testing.assert_allclose(resp.compliance, ref, rtol=0,
                                   atol=1e-10 * np.abs(ref).max(), err_msg=label)
        for x, r in ((gk, gk_ref), (gl, gl_ref)):
            np.testing.assert_allclose(x, r, rtol=0, atol=1e-10 * np.abs(r).max(),
                                       err_msg=label)


def test_every_solver_name_builds_its_solver():
    # the names of the SolverName alias and the classes as_solver builds are one table
    expected = {"auto": S.Auto, "dense": S.Dense, "banded": S.Banded,
                "multifrontal": S.Multifrontal, "cg": S.CG}
    assert set(typing.get_args(S.SolverName)) == set(expected)
    for name, cls in expected.items():
        assert type(S.as_solver(name)) is cls


def test_auto_follows_the_table_for_resistors():
    def chosen(g):
        n = g.n_nodes
        return N.resolve_solver("auto", g, N.make_task([0], [n // 2], [[1.0]], [[0.5]],
                                                        ground_nodes=[n - 1], n_nodes=n))

    assert chosen(G.square_grid(16)) == S.Dense()              # 254 free <= 256
    small_band = chosen(G.square_grid(40))                     # RCM band 40 <= 64
    assert isinstance(small_band, S.Banded) and small_band.plan.block <= 64
    wide = chosen(G.square_grid(70))                           # band 70 > 64
    assert isinstance(wide, S.Multifrontal)
    assert chosen(G.square_grid(70)) == wide                   # cached plan: same solver
    seen = []
    for L, expected in ((40, S.Dense()), (50, S.CG())):        # traced: no plan
        g = G.square_grid(L)
        task = N.make_task([0], [L * L // 2], [[1.0]], [[0.5]], ground_nodes=[L * L - 1],
                           n_nodes=L * L)
        jax.jit(lambda gr, t=task: seen.append(N.resolve_solver("auto", gr, t)) or 0.0)(g)
        assert seen[-1] == expected


def test_cg_tolerance_convention_is_shared():
    assert S.default_rtol(jnp.float64) == 1e-12 and S.default_rtol(jnp.float32) == 1e-5
    g, k, task = resistor_network("free 2-D")
    ref = np.asarray(N.free_state(g, k, task, solver="dense"))
    for rtol in (1e-4, 1e-8):
        v = np.asarray(N.free_state(g, k, task, solver=S.CG(rtol=rtol)))
        err = np.abs(v - ref).max() / np.abs(ref).max()
        assert err < 1e3 * rtol                                 # converged to about rtol
    loose = np.abs(np.asarray(N.free_state(g, k, task, solver=S.CG(rtol=1e-3))) - ref).max()
    assert loose > 1e-12                                       # the tolerance is honoured


def test_bad_solvers_and_plans_are_refused_naming_solver():
    g, k, task = resistor_network("free 2-D")
    with pytest.raises(ValueError, match="solver must be one of"):
        N.free_state(g, k, task, solver="lu")
    with pytest.raises(TypeError, match="solver must be one of"):
        N.free_state(g, k, task, solver=3)
    for bad in (dict(rtol=-1.0), dict(atol=float("nan")), dict(max_steps=0),
                dict(rtol=0.0, atol=0.0)):
        with pytest.raises(ValueError, match="CG"):
            S.CG(**bad)
    # a plan built for another network, or for another set of fixed nodes
    other = G.square_grid(17)
    other_task = N.make_task([0], [100], [[1.0]], [[0.5]], ground_nodes=[288], n_nodes=289)
    plan = N.resolve_solver("banded", other, other_task)
    with pytest.raises(ValueError, match="solver: the plan was built for a graph of 289"):
        N.free_state(g, k, task, solver=plan)
    same_graph = N.resolve_solver(S.Multifrontal(), g, N.make_task(
        [1], [50], [[1.0]], [[0.5]], ground_nodes=[2], n_nodes=g.n_nodes))
    with pytest.raises(ValueError, match="solver: the plan was built"):
        N.free_state(g, k, task, solver=same_graph)
    with pytest.raises(ValueError, match="a banded solver got a multifrontal plan"):
        N.free_state(g, k, task, solver=S.Banded(N.resolve_solver("multifrontal", g,
                                                                  task).plan))
    spring_plan = st.banded_plan(H.perturbed_triangular()).plan
    with pytest.raises(ValueError, match="not a resistor-network plan"):
        N.free_state(g, k, task, solver=S.Banded(spring_plan))
    with pytest.raises(ValueError, match="not a spring-network plan"):
        st.linear_response(H.perturbed_triangular(), np.ones(56), [[0, 6]],
                           solver=S.Banded(N.resolve_solver("banded", g, task).plan))
    # a traced graph must be the plan's graph (checked when solving)
    banded = N.resolve_solver("banded", g, task)
    shuffled = G.Graph(np.asarray(g.edges)[::-1], g.n_nodes)
    with pytest.raises(Exception, match="plan was built for another graph"):
        jax.block_until_ready(jax.jit(
            lambda gr: N.free_state(gr, k, task, solver=banded, check=False))(shuffled))
    ok = jax.jit(lambda gr: N.free_state(gr, k, task, solver=banded, check=False))(g)
    np.testing.assert_allclose(ok, N.free_state(g, k, task, solver="dense"), atol=1e-12)


def test_cg_that_cannot_converge_is_an_error_naming_solver():
    g, k, task = resistor_network("free 2-D")
    with pytest.raises(Exception, match="solver: CG did not reach its tolerance"):
        jax.block_until_ready(N.free_state(g, k, task, solver=S.CG(max_steps=3)))
    net, pairs = spring_network("free 2-D")
    with pytest.raises(Exception, match="solver: CG did not reach its tolerance"):
        jax.block_until_ready(st.linear_response(net, H.random_stiffnesses(net), pairs,
                                                 solver=S.CG(max_steps=2)).compliance)


def test_bad_networks_and_tasks_are_refused_naming_the_argument():
    g, k, task = resistor_network("free 2-D")
    with pytest.raises(ValueError, match="conductances has 1 non-finite"):
        N.free_state(g, k.at[3].set(jnp.nan), task)
    bad_targets = N.ResistorTask(task.inputs, task.desired.at[0, 0].set(jnp.inf),
                                 task.source_nodes, task.target_nodes, task.ground_nodes)
    with pytest.raises(ValueError, match="task.desired has non-finite"):
        N.train(g, k, bad_targets, n_steps=2)
    with pytest.raises(ValueError, match="desired"):
        N.make_task([0], [5], [[1.0]], [[np.nan]], ground_nodes=[9], n_nodes=g.n_nodes)
    # a source on a node that touches no edge
    lonely = G.Graph(np.asarray(g.edges), g.n_nodes + 1)
    t = N.make_task([g.n_nodes], [5], [[1.0]], [[0.5]], ground_nodes=[0],
                    n_nodes=lonely.n_nodes)
    with pytest.raises(ValueError, match=r"task.source_nodes: nodes \[324\] touch no edge"):
        N.free_state(lonely, jnp.ones(lonely.n_edges), t)
    # a part of the network held by no source: singular, for CG as for the direct solvers
    split = G.Graph(np.concatenate([np.asarray(g.edges), [[g.n_nodes, g.n_nodes + 1]]]),
                    g.n_nodes + 2)
    t = N.make_task([0], [5], [[1.0]], [[0.5]], ground_nodes=[9], n_nodes=split.n_nodes)
    for solver in ("cg", "dense"):
        with pytest.raises(ValueError, match="graph: 1 connected component"):
            N.free_state(split, jnp.ones(split.n_edges), t, solver=solver)
    with pytest.raises(TypeError, match="task must be a ResistorTask"):
        N.train(g, k, "task")
