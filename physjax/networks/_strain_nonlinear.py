"""Nonlinear free states of spring networks with imposed pair strains (used by
:func:`physjax.networks.strain.free_state` with ``method="newton"`` or ``"fire"``).

Newton's method (optimistix) on the Lagrange (KKT) system of the full energy with the exact
pair strains imposed; the rigid-body gauge is fixed by the penalty ½c|Qᵀu|², which vanishes
at the solution and so does not bias it.  ``"fire"`` starts Newton from a FIRE relaxation
with stiff penalty springs on the imposed pairs (large strains).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import optimistix as optx

from physjax.networks import _spring_core as _spc
from physjax.networks import _strain_core as _stc
from physjax.networks import solvers as _solvers
from physjax.networks import spring as _sp
from physjax.networks.strain import constrained_state


def nonlinear_states(network, k, task, imposed, values, rest_lengths, method, *,
                      rtol=None, max_steps=200, penalty=None, fire_kw=None):
    """Start (linear response or FIRE with penalty springs), then the Newton polish; the
    two are separate compiled programs so that one Newton program serves both methods."""
    k = jnp.asarray(k)
    dtype = jnp.result_type(k.dtype, network.positions.dtype)
    imposed, values = imposed.astype(dtype), values.astype(dtype)
    if rtol is None:
        rtol = 1e-12 if dtype == jnp.float64 else 1e-6
    if method == "newton":
        resp = _stc.solve_linear_response(network, k, task.pairs, rest_lengths, _solvers.Dense(),
                                          None)
        u0 = constrained_state(resp, imposed, values)[0]
    else:
        u0 = _fire_start(network, k, task.pairs, imposed, values, rest_lengths, penalty,
                         fire_kw or {})
    return _newton(network, k, task.pairs, imposed, values, rest_lengths, u0, rtol, max_steps)


def _nonlinear_parts(network, k, p, rest_lengths):
    x0 = network.positions
    q = _spc.rigid_body_modes_at(network, x0).astype(k.dtype)
    c = jnp.mean(k)
    r0 = jnp.linalg.norm(_spc.minimum_image(x0[p[:, 0]] - x0[p[:, 1]], network.box), axis=-1)
    n, d = network.n_nodes, network.dim

    def strains(u):
        x = x0 + u.reshape(n, d)
        v = _spc.minimum_image(x[p[:, 0]] - x[p[:, 1]], network.box)
        return (jnp.linalg.norm(v, axis=-1) - r0) / r0

    def energy(u, kk):
        e = _sp.elastic_energy(network, kk, x0 + u.reshape(n, d), rest_lengths=rest_lengths)
        return e + 0.5 * c * jnp.sum((q.T @ u) ** 2)

    return strains, energy, r0


@eqx.filter_jit
def _fire_start(network, k, p, imposed, values, rest_lengths, penalty, fire_kw):
    from physjax.networks.packing import fire_minimize
    strains, energy, r0 = _nonlinear_parts(network, k, p, rest_lengths)
    kappa = 1e3 * jnp.max(k) if penalty is None else penalty

    def one(w, eps):
        def penalized(u):
            return energy(u, k) + 0.5 * kappa * jnp.sum(w * (r0 * (strains(u) - eps)) ** 2)

        return fire_minimize(penalized, jnp.zeros(network.n_dof, k.dtype), **fire_kw).position

    return jax.vmap(one)(imposed, values)


@eqx.filter_jit
def _newton(network, k, p, imposed, values, rest_lengths, u0, rtol, max_steps):
    strains, energy, r0 = _nonlinear_parts(network, k, p, rest_lengths)

    def kkt(y, args):
        u, lam = y
        kk, w, eps = args
        g, pull = jax.vjp(strains, u)
        grad_u = jax.grad(energy)(u, kk) + pull(w * lam)[0]
        return grad_u, w * (g - eps) + (1.0 - w) * lam

    def one(w, eps, start):
        sol = optx.root_find(kkt, optx.Newton(rtol=rtol, atol=rtol),
                             (start, jnp.zeros_like(r0)), args=(k, w, eps),
                             max_steps=max_steps)
        return sol.value[0]

    u = jax.vmap(one)(imposed, values, u0)
    return u.reshape(-1, network.n_nodes, network.dim)
