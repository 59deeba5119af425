"""Sparse direct linear response of spring networks (physjax.networks._spring_banded: the
banded and the multifrontal plans), float64.

References: the dense solve with H + cQQᵀ (solutions, compliances and cost gradients agree
to rounding), finite differences of the cost, and per-network solves for a vmapped ensemble
whose bonds are traced.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from physjax import graphs
from physjax.networks import packing, solvers
from physjax.networks import spring as sp
from physjax.networks import spring_learning as sl
from physjax.networks import strain as st

from . import spring_helpers as H


@pytest.fixture(autouse=True)
def x64():
    with jax.enable_x64(True):
        yield


def cubic_3d(shape=(5, 4, 3), seed=0):
    """Jittered cubic lattice with nearest-neighbour and face-diagonal bonds: a rigid free
    3-D network (6 rigid-body modes) with a band narrower than its size."""
    idx = np.stack(np.meshgrid(*map(np.arange, shape), indexing="ij"), -1).reshape(-1, 3)
    pos = idx + 0.1 * np.random.default_rng(seed).standard_normal(idx.shape)
    i, j = np.triu_indices(len(idx), 1)
    d2 = np.sum((idx[i] - idx[j]) ** 2, axis=1)
    keep = d2 <= 2
    return sp.spring_network(graphs.Graph(np.stack([i[keep], j[keep]], 1), len(idx), pos))


def network(name):
    """A network and two node pairs (source, target)."""
    if name == "free 2-D":
        return H.perturbed_triangular(), np.array([[0, 6], [18, 24]])
    if name == "periodic 2-D":
        jam = H.jammed_2d()
        return jam, np.stack(H.allostery_pairs(jam))
    return cubic_3d(), np.array([[0, 21], [38, 59]])


def _prestressed_rest_lengths(net, seed=4):
    rng = np.random.default_rng(seed)
    return np.asarray(net.rest_lengths) * (1 + 0.02 * rng.standard_normal(net.n_edges))


PLANS = {"banded": st.banded_plan, "multifrontal": st.multifrontal_plan}


@pytest.mark.parametrize("kind", list(PLANS))
@pytest.mark.parametrize("name", ["free 2-D", "periodic 2-D", "free 3-D"])
def test_sparse_and_dense_solutions_and_gradients_agree(name, kind):
    net, pairs = network(name)
    solver = PLANS[kind](net)
    assert solver.kind == kind
    plan = solver.plan
    assert plan.kind == kind
    assert plan.n_blocks >= 2                            # blocks / levels are exercised
    assert len(plan.pinned) == net.n_rigid_modes
    k = jnp.asarray(H.random_stiffnesses(net))
    l0 = jnp.asarray(_prestressed_rest_lengths(net))
    task = st.allostery_task(net, pairs[0], pairs[1], ratio=0.5)
    # one compiled call per solver: the cost gradient and the linear response it went through
    _, (gk_d, gl_d), dense = st.cost_gradient(net, k, task, rest_lengths=l0, solver="dense")
    _, (gk_b, gl_b), band = st.cost_gradient(net, k, task, rest_lengths=l0, solver=kind)
    for field in dense._fields:
        ref = np.asarray(getattr(dense, field))
        np.testing.assert_allclose(getattr(band, field), ref, rtol=0,
                                   atol=1e-10 * np.abs(ref).max(), err_msg=field)
    # the banded solution is Q-orthogonal, like the dense one
    q = np.asarray(sp.rigid_body_modes(net))
    assert np.abs(q.T @ np.asarray(band.basis).T).max() < 1e-10 * np.abs(band.basis).max()
    np.testing.assert_allclose(gk_b, gk_d, rtol=0, atol=1e-9 * np.abs(gk_d).max())
    np.testing.assert_allclose(gl_b, gl_d, rtol=0, atol=1e-9 * np.abs(gl_d).max())


@pytest.mark.parametrize("kind", list(PLANS))
def test_sparse_cost_gradient_matches_finite_differences(kind):
    net, pairs = network("periodic 2-D")
    k = H.random_stiffnesses(net)
    plan = PLANS[kind](net)
    task = st.allostery_task(net, pairs[0], pairs[1], ratio=0.5)
    _, g_k, _ = sl.double_optimization_gradient(net, k, task, solver=plan)
    cost = jax.jit(lambda kk: sl.strain_cost(net, kk, task, solver=plan, check=False))
    h = 1e-5
    for j in np.argsort(-np.abs(np.asarray(g_k)))[:3]:
        dk = np.zeros_like(k)
        dk[j] = h
        fd = (cost(k + dk) - cost(k - dk)) / (2 * h)
        assert float(g_k[j]) == pytest.approx(float(fd), rel=1e-6)


@pytest.fixture(scope="module")
def ensemble():
    """Three networks pruned from one periodic packing, and the plan of the unpruned
    contact network (which holds every bond of every member)."""
    with jax.enable_x64(True):
        contacts = H.jammed_2d(z=None)
        nets = [packing.prune_to_coordination(jax.random.key(s), contacts, 4.6)
                for s in range(3)]
        return contacts, nets


@pytest.mark.parametrize("kind", list(PLANS))
def test_vmapped_ensemble_with_traced_bonds_matches_per_network_solves(ensemble, kind):
    contacts, nets = ensemble
    plan = PLANS[kind](contacts)
    pairs = np.stack(H.allostery_pairs(nets[0]))
    task = st.allostery_task(nets[0], pairs[0], pairs[1])
    stacked = jax.tree.map(lambda *xs: jnp.stack(xs), *nets)
    k = jnp.stack([jnp.asarray(H.random_stiffnesses(n, seed=i)) for i, n in enumerate(nets)])

    def train(net, kk, solver):
        return sl.train_springs(net, kk, task, n_steps=2, learning_rate=0.05, solver=solver,
                                check=False)

    out = jax.jit(jax.vmap(lambda net, kk: train(net, kk, plan)))(stacked, k)
    for i, net in enumerate(nets):
        ref = train(net, k[i], "dense")
        np.testing.assert_allclose(out.cost[i], ref.cost, rtol=1e-10)
        np.testing.assert_allclose(out.stiffnesses[i], ref.stiffnesses, rtol=1e-10)


def test_a_bond_outside_the_band_is_rejected(ensemble):
    contacts, nets = ensemble
    plan = st.banded_plan(nets[0])
    e = np.asarray(contacts.graph.edges)
    # a bond between the first and last nodes of the ordering lies outside any band
    order = np.argsort(plan.plan.layout.position[:: contacts.dim])
    far = sp.spring_network(graphs.Graph(np.concatenate([e, [order[[0, -1]]]]),
                                         contacts.n_nodes, contacts.positions),
                            box=contacts.box)
    k = np.ones(far.n_edges)
    pairs = np.stack(H.allostery_pairs(nets[0]))
    assert_rejected(far, k, pairs, plan, r"outside the band of the plan passed as solver",
                    "outside the band")


def assert_rejected(net, k, pairs, plan, concrete_message, traced_message):
    """``net``'s bonds break ``plan``'s contract: a ValueError for concrete bonds, and the
    same contract checked at run time when the bonds are traced."""
    with pytest.raises(ValueError, match=concrete_message):
        st.linear_response(net, k, pairs, solver=plan)
    with pytest.raises(Exception, match=traced_message):
        jax.block_until_ready(jax.jit(
            lambda n: st.linear_response(n, k, pairs, solver=plan).compliance)(net))


def test_a_bond_missing_from_the_multifrontal_plan_network_is_rejected(ensemble):
    contacts, nets = ensemble
    plan = st.multifrontal_plan(nets[0])
    missing = np.flatnonzero(~np.isin(
        np.asarray(contacts.graph.edges) @ [1, contacts.n_nodes],
        np.asarray(nets[0].graph.edges) @ [1, contacts.n_nodes]))
    assert missing.size                          # the contact network has bonds nets[0] lacks
    k = np.ones(contacts.n_edges)
    pairs = np.stack(H.allostery_pairs(nets[0]))
    assert_rejected(contacts, k, pairs, plan,
                    r"not bonds of the network the plan passed as solver",
                    "not a bond of the plan's network")
    # the orientation of a bond does not matter
    flipped = sp.spring_network(graphs.Graph(np.asarray(nets[0].graph.edges)[:, ::-1],
                                             contacts.n_nodes, contacts.positions),
                                box=contacts.box)
    kk = H.random_stiffnesses(nets[0])
    ref = st.linear_response(nets[0], kk, pairs, solver="dense").compliance
    np.testing.assert_allclose(st.linear_response(flipped, kk, pairs, solver=plan).compliance,
                               ref, rtol=1e-10)


def test_plan_and_solver_errors_name_the_argument(ensemble):
    contacts, nets = ensemble
    pairs = np.stack(H.allostery_pairs(nets[0]))
    k = np.ones(nets[0].n_edges)
    other = st.banded_plan(H.perturbed_triangular())
    with pytest.raises(ValueError, match=r"solver is a banded plan for 25 nodes"):
        st.linear_response(nets[0], k, pairs, solver=other)
    with pytest.raises(ValueError, match=r"solver=Banded\(\) .* concrete edges"):
        jax.jit(lambda net: st.linear_response(net, k, pairs, solver="banded"))(nets[0])
    with pytest.raises(ValueError, match="solver must be one of"):
        st.linear_response(nets[0], k, pairs, solver="sparse")
    with pytest.raises(ValueError, match=r"network: a banded plan .* concrete edges"):
        jax.jit(st.banded_plan)(contacts)
    with pytest.raises(ValueError, match=r"solver=Multifrontal\(\) .* concrete edges"):
        jax.jit(lambda net: st.linear_response(net, k, pairs, solver="multifrontal"))(nets[0])
    with pytest.raises(ValueError, match=r"network: a multifrontal plan .* concrete edges"):
        jax.jit(st.multifrontal_plan)(contacts)


def test_auto_follows_the_solver_table():
    """solvers.Auto: dense up to AUTO_DENSE_MAX_DOF unknowns; above, banded when the RCM
    band is at most AUTO_BANDED_MAX_BLOCK wide, multifrontal otherwise; traced: dense/CG."""
    small = H.perturbed_triangular()
    assert small.n_dof <= solvers.AUTO_DENSE_MAX_DOF
    assert st.resolve_solver("auto", small) == solvers.Dense()
    big = H.jammed_2d(320)                               # periodic: the wrap-around widens
    assert big.n_dof > solvers.AUTO_DENSE_MAX_DOF        # the band
    band = st.banded_plan(big).plan
    assert band.block > solvers.AUTO_BANDED_MAX_BLOCK
    chosen = st.resolve_solver("auto", big)
    assert isinstance(chosen, solvers.Multifrontal)
    assert chosen == st.multifrontal_plan(big)           # cached plan: one compilation
    traced = []
    jax.jit(lambda n: traced.append(st.resolve_solver("auto", n)) or 0.0)(big)
    assert traced == [solvers.Dense()]                   # 640 dofs <= 2048, no plan


def test_resolved_solver_names_and_instances_agree(ensemble):
    _, nets = ensemble
    for name, cls in (("dense", solvers.Dense), ("banded", solvers.Banded),
                      ("multifrontal", solvers.Multifrontal), ("cg", solvers.CG)):
        assert isinstance(st.resolve_solver(name, nets[0]), cls)
        assert isinstance(st.resolve_solver(cls(), nets[0]), cls)
    with pytest.raises(TypeError, match="solver must be one of"):
        st.resolve_solver(3, nets[0])
