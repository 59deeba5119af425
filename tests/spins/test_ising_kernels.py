"""The lattice Ising kernels (CheckerboardIsing, MultispinIsing) on the physjax.kernels
protocol: bad input named by argument (also under jit), traced temperatures, one compilation
per static configuration, x64, progress chunks, and the energy used for tempering.

Stationary laws of both engines x both rules against exact enumeration are in
tests/conformance/cases_ising.py; the larger-lattice physics in test_ising_physics.py.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import physjax.spins as ps
from physjax import kernels
from physjax.ensemble import sweep
from physjax.kernels import run
from physjax.spins.samplers import CheckerboardIsing, MultispinIsing
from tests.helpers import CompileCounter

KEY = jax.random.key(0)
ENGINES = ["reference", "multispin"]


def _kernel(engine, **kw):
    return CheckerboardIsing(**kw) if engine == "reference" else MultispinIsing(**kw)


def _init(engine, model, temperature=2.0, key=KEY, **kw):
    if engine == "reference":
        return CheckerboardIsing().init(key, model, temperature, **kw)
    return MultispinIsing().init(key, model, [temperature], **kw)


def _numpy_energy(J, h, spins):
    """H of each configuration (leading axes) on the periodic lattice, float64 NumPy."""
    s = np.asarray(spins, np.float64)
    d = 2
    axes = tuple(range(s.ndim - d, s.ndim))
    bonds = sum((s * np.roll(s, -1, a)).sum(axis=axes) for a in axes)
    return -J * bonds - h * s.sum(axis=axes)


# --------------------------------------------------------------------- bad input

@pytest.mark.parametrize("make", [CheckerboardIsing, MultispinIsing])
def test_unknown_rule_is_refused_by_name(make):
    with pytest.raises(ValueError, match="rule"):
        make(rule="glauber")


def test_multispin_static_options_are_checked():
    with pytest.raises(ValueError, match="precision_bits"):
        MultispinIsing(precision_bits=40)
    with pytest.raises(TypeError, match="zero_field"):
        MultispinIsing(zero_field=1)


@pytest.mark.parametrize("engine", ENGINES)
def test_state_from_another_lattice_is_refused(engine):
    kernel = _kernel(engine)
    state = _init(engine, ps.IsingLattice((6, 6)))
    model = ps.IsingLattice((4, 4))
    with pytest.raises(ValueError, match="state"):
        run(kernel, KEY, model, state, 2)
    with pytest.raises(ValueError, match="state"):
        kernel.step(KEY, model, state)
    with pytest.raises(ValueError, match="state"):
        jax.jit(kernel.step)(KEY, model, state)
    with pytest.raises(TypeError, match="state"):
        run(kernel, KEY, model, "bogus", 2)


def test_state_of_the_wrong_dtype_is_refused():
    model = ps.IsingLattice((4, 4))
    state = CheckerboardIsing().init(KEY, model, 2.0)
    with pytest.raises(ValueError, match="state.spins"):
        run(CheckerboardIsing(), KEY, model, state._replace(spins=state.spins.astype(float)), 2)
    with pytest.raises(ValueError, match="state.beta"):
        run(CheckerboardIsing(), KEY, model, state._replace(beta=jnp.ones(3)), 2)
    packed = MultispinIsing().init(KEY, model, [2.0])
    with pytest.raises(ValueError, match="state"):
        run(MultispinIsing(), KEY, model, packed._replace(black=packed.black.astype(jnp.int32)),
            2)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("temperature", [-1.0, 0.0, np.nan, np.inf])
def test_bad_temperature_at_init_is_refused(engine, temperature):
    with pytest.raises(ValueError, match="temperature"):
        _init(engine, ps.IsingLattice((4, 4)), temperature)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("beta", [-0.5, np.nan])
def test_bad_inverse_temperature_in_the_state_is_refused(engine, beta):
    model = ps.IsingLattice((4, 4))
    state = _init(engine, model)
    state = state._replace(beta=jnp.full_like(state.beta, beta))
    with pytest.raises(ValueError, match="state.beta"):
        run(_kernel(engine), KEY, model, state, 2)


@pytest.mark.parametrize("engine", ENGINES)
def test_traced_negative_temperature_is_an_equinox_error_under_jit(engine):
    model = ps.IsingLattice((4, 4))
    kernel = _kernel(engine)

    @jax.jit
    def energy_after_two_sweeps(t):
        state = kernel.init(KEY, model, t if engine == "reference" else t[None])
        return kernel.energy(model, run(kernel, KEY, model, state, 2).state)
    assert np.all(np.isfinite(energy_after_two_sweeps(2.0)))
    with pytest.raises(Exception, match="temperature.* must be finite and > 0"):
        jax.block_until_ready(energy_after_two_sweeps(-2.0))
    # a state whose inverse temperature is traced is checked by run (Kernel.check)
    state = _init(engine, model)
    f = jax.jit(lambda b: run(kernel, KEY, model, state._replace(beta=b), 2).state.beta)
    with pytest.raises(Exception, match="state.beta must be finite and > 0"):
        jax.block_until_ready(f(-state.beta))


@pytest.mark.parametrize("engine", ENGINES)
def test_non_finite_coupling_is_refused(engine):
    model = ps.IsingLattice((4, 4))
    state = _init(engine, model)
    bad = eqx.tree_at(lambda m: m.J, model, jnp.asarray(np.nan))
    with pytest.raises(ValueError, match="model.J"):
        run(_kernel(engine), KEY, bad, state, 2)
    f = jax.jit(lambda h: run(_kernel(engine), KEY, eqx.tree_at(lambda m: m.h, model, h),
                              state, 2).state)
    with pytest.raises(Exception, match="model.h must be finite"):
        jax.block_until_ready(f(jnp.asarray(np.inf)))


def test_zero_field_kernel_refuses_a_field():
    model = ps.IsingLattice((4, 4), h=0.3)
    state = MultispinIsing().init(KEY, model, [2.0])
    with pytest.raises(ValueError, match="model.h"):
        run(MultispinIsing(zero_field=True), KEY, model, state, 2)


# ------------------------------------------------------------------ traceability

def test_temperature_traced_under_vmap_matches_per_value_runs():
    """The temperature enters through init as a traced number: vmapped runs equal the
    per-temperature runs bit for bit (same keys)."""
    model = ps.IsingLattice((4, 4))
    kernel = CheckerboardIsing("heat_bath")

    def energies(t):
        state = kernel.init(KEY, model, t)
        return run(kernel, KEY, model, state, 6, record_every=2,
                   observe=lambda m, s, i: kernel.energy(m, s)).records
    temps = jnp.asarray([1.5, 2.5, 4.0])
    batched = jax.jit(jax.vmap(energies))(temps)
    for i, t in enumerate(temps):
        np.testing.assert_array_equal(batched[i], energies(t))


@pytest.mark.parametrize("engine", ENGINES)
def test_sample_ising_compiles_once_per_static_configuration(engine):
    """New temperatures, keys and couplings reuse the compiled programs."""
    model = ps.IsingLattice((8, 8))
    args = dict(rule="metropolis", burn_in=4, record_every=2, engine=engine)
    ps.sample_ising(KEY, model, [2.0, 3.0], 8, **args)
    # new keys and the new model are made outside the counter: making a key runs small
    # programs of its own, which a cache clear between tests would have to compile again
    key1, key2 = jax.random.key(1), jax.random.key(2)
    other = ps.IsingLattice((8, 8), J=0.7)
    with CompileCounter() as c:
        s = ps.sample_ising(key1, model, [1.5, 4.0], 8, **args)
        ps.sample_ising(key2, other, [2.2, 2.4], 8, **args)
        jax.block_until_ready(s)
    assert c.count == 0


def test_ensemble_sweep_over_temperature_matches_enumeration():
    """physjax.ensemble.sweep traces the temperature of one reference replica per call:
    <E>/N of a 4 x 4 lattice at two temperatures within 4 sigma of enumeration."""
    model = ps.IsingLattice((4, 4))
    kernel = CheckerboardIsing("heat_bath")

    def mean_energy(key, params):
        state = kernel.init(key, model, params["temperature"], start="up")
        r = run(kernel, key, model, state, 400, burn_in=50,
                observe=lambda m, s, i: kernel.observables(m, s).energy)
        return jnp.mean(r.records)
    temps = np.array([2.0, 3.0])
    res = sweep(mean_energy, KEY, {"temperature": jnp.asarray(temps)}, 32, progress=False)
    e = np.asarray(res.values, np.float64)
    for g, t in enumerate(temps):
        exact = ps.exact.enumerate_ising((4, 4), t).energy_per_spin
        err = e[g].std(ddof=1) / np.sqrt(e.shape[1])
        assert abs(e[g].mean() - exact) < 4 * err, (t, e[g].mean(), err, exact)


# ------------------------------------------------------------------ x64, energy

@pytest.mark.parametrize("engine", ENGINES)
def test_sample_ising_runs_under_x64(engine):
    with jax.enable_x64(True):
        model = ps.IsingLattice((4, 8), h=0.1)
        s = ps.sample_ising(KEY, model, [1.5, 3.0], 6, burn_in=2, record_every=3,
                            engine=engine, start="up")
        assert s.energy.dtype == jnp.float64 and s.energy.shape == (2, 2)
        assert np.all(np.isfinite(np.asarray(s.energy)))
        # the last record is the energy of the final spins
        np.testing.assert_allclose(np.asarray(s.energy[:, -1]) * 32,
                                   _numpy_energy(1.0, 0.1, s.spins), rtol=1e-12)


@pytest.mark.parametrize("engine", ENGINES)
def test_energy_is_the_lattice_hamiltonian_of_every_replica(engine):
    """Kernel.energy (what tempering and AIS use) is H of each replica's spins."""
    model = ps.IsingLattice((4, 6), J=0.8, h=-0.3)
    kernel = _kernel(engine)
    temps = [1.0, 2.0, 3.0]
    state = kernel.init(KEY, model, jnp.asarray(temps) if engine == "reference" else temps)
    state, _ = kernel.step(jax.random.key(3), model, state)
    spins = state.spins if engine == "reference" else ps.multispin_spins(model, state)
    np.testing.assert_allclose(np.asarray(kernel.energy(model, state), np.float64),
                               _numpy_energy(0.8, -0.3, spins), rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------------- progress

@pytest.mark.parametrize("engine", ENGINES)
def test_progress_chunks_give_the_same_samples(engine):
    model = ps.IsingLattice((4, 4))
    args = dict(burn_in=10, record_every=2, engine=engine)
    plain = ps.sample_ising(KEY, model, [2.0, 2.5], 40, **args)
    seen = []
    size = kernels._uniform._cached._cache_size()
    chunked = ps.sample_ising(KEY, model, [2.0, 2.5], 40,
                              progress=lambda done, total: seen.append((done, total)), **args)
    assert kernels._uniform._cached._cache_size() <= size + 1  # one program for all chunks
    for a, b in zip(plain, chunked, strict=True):
        np.testing.assert_array_equal(a, b)
    assert len(seen) > 1 and seen[-1] == (50, 50)
    assert all(d1 < d2 for (d1, _), (d2, _) in zip(seen, seen[1:], strict=False))


@pytest.mark.parametrize("engine", ENGINES)
def test_zero_recorded_sweeps_give_empty_series_after_the_burn_in(engine):
    """n_sweeps = 0 is allowed and still runs the burn-in: free spins (J = 0) in a field
    h = 2 at T = 0.5 start down; heat bath sets each spin up with probability
    1 / (1 + e^{-2 beta h}) = 1 / (1 + e^{-8}) per sweep."""
    model = ps.IsingLattice((4, 4), J=0.0, h=2.0)
    s = ps.sample_ising(KEY, model, [0.5, 0.5], 0, burn_in=3, rule="heat_bath",
                        start="down", engine=engine)
    assert s.energy.shape == (2, 0) and s.magnetization.shape == (2, 0)
    # P(down after the last sweep) = 1 / (1 + e^8) per spin: all 32 up with P > 0.99
    assert np.all(np.asarray(s.spins) == 1)
