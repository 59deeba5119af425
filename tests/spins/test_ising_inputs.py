"""Bad input to the lattice Ising API raises errors that name the argument."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import physjax.spins as ps

KEY = jax.random.key(0)


@pytest.mark.parametrize("shape,match", [
    ((16,), "shape"), ((4, 4, 4, 4), "shape"), (16, "shape"), ((4, 1), "shape"),
    ((4.0, 4), "shape"), ("ab", "shape")])
def test_bad_lattice_shape(shape, match):
    with pytest.raises((ValueError, TypeError), match=match):
        ps.IsingLattice(shape)


def test_odd_side_rejected_by_checkerboard_samplers():
    model = ps.IsingLattice((5, 4))  # fine for energies
    with pytest.raises(ValueError, match="model.shape"):
        ps.sample_ising(KEY, model, [2.0], 10)
    with pytest.raises(ValueError, match="model.shape"):
        ps.init_ising(KEY, model, 2.0)
    # IsingLattice((7, 7)) is a valid model (energies); every engine refuses it up front
    model = ps.IsingLattice((7, 7))
    spins = jnp.ones((7, 7), jnp.int8)
    assert float(ps.lattice_energy(model, spins)) == -2 * 49
    for engine in ("reference", "multispin", "auto"):
        with pytest.raises(ValueError, match=r"model.shape sides must be even.*\(7, 7\)"):
            ps.sample_ising(KEY, model, [2.0], 10, engine=engine)
    with pytest.raises(ValueError, match="model.shape sides must be even"):
        ps.init_multispin(KEY, model, [2.0])


@pytest.mark.parametrize("J,h,name", [(np.nan, 0.0, "J"), (1.0, np.inf, "h"),
                                      (np.ones(2), 0.0, "J and h")])
def test_bad_couplings(J, h, name):
    with pytest.raises(ValueError, match=name):
        ps.IsingLattice((4, 4), J=J, h=h)


@pytest.mark.parametrize("temps", [[2.0, 0.0], [-1.0], [np.nan], []])
def test_bad_temperatures(temps):
    with pytest.raises(ValueError, match="temperatures"):
        ps.sample_ising(KEY, ps.IsingLattice((4, 4)), temps, 10)


def test_bad_temperature_one_replica():
    with pytest.raises(ValueError, match="temperature"):
        ps.init_ising(KEY, ps.IsingLattice((4, 4)), 0.0)
    with pytest.raises(ValueError, match="temperature"):
        ps.init_ising(KEY, ps.IsingLattice((4, 4)), [1.0, 2.0])


def test_traced_nonpositive_temperature_is_an_error_not_nan():
    model = ps.IsingLattice((4, 4))
    f = jax.jit(lambda t: ps.init_multispin(KEY, model, t).beta)
    assert np.isfinite(f(jnp.array([2.0]))).all()
    with pytest.raises(Exception, match="temperatures must be finite and > 0"):
        f(jnp.array([-2.0])).block_until_ready()


def test_spins_must_be_plus_minus_one():
    model = ps.IsingLattice((4, 4))
    bad = np.ones((4, 4), np.int8)
    bad[0, 0] = 0
    with pytest.raises(ValueError, match="spins"):
        ps.init_ising(KEY, model, 2.0, spins=bad)
    with pytest.raises(ValueError, match="spins"):
        ps.lattice_energy(model, bad)
    with pytest.raises(ValueError, match="spins"):
        ps.init_multispin(KEY, model, [2.0], spins=bad[None])
    with pytest.raises(ValueError, match="spins"):
        ps.init_ising(KEY, model, 2.0, spins=np.ones((4, 6), np.int8))


@pytest.mark.parametrize("kwargs,match", [
    (dict(rule="glauber"), "rule"), (dict(n_sweeps=-1), "n_sweeps"),
    (dict(record_every=0), "record_every"), (dict(n_sweeps=10, record_every=3), "record_every"),
    (dict(burn_in=-5), "burn_in"), (dict(engine="cuda"), "engine"),
    (dict(precision_bits=40), "precision_bits"), (dict(start="hot"), "start")])
def test_bad_run_arguments(kwargs, match):
    args = dict(n_sweeps=10) | kwargs
    n = args.pop("n_sweeps")
    with pytest.raises((ValueError, TypeError), match=match):
        ps.sample_ising(KEY, ps.IsingLattice((4, 4)), [2.0], n, **args)


def test_strips_layout_needs_side_divisible_by_64():
    with pytest.raises(ValueError, match="layout"):
        ps.init_multispin(KEY, ps.IsingLattice((8, 32)), [2.0], layout="strips")


def test_model_type_checked():
    with pytest.raises(TypeError, match="model"):
        ps.sample_ising(KEY, (4, 4), [2.0], 10)


def test_energy_of_known_configurations():
    model = ps.IsingLattice((4, 6), J=0.5, h=0.25)
    up = np.ones((4, 6), np.int8)
    assert float(ps.lattice_energy(model, up)) == pytest.approx(-0.5 * 48 - 0.25 * 24)
    checker = np.where(sum(np.indices((4, 6))) % 2 == 0, 1, -1).astype(np.int8)
    assert float(ps.lattice_energy(model, checker)) == pytest.approx(0.5 * 48)


def test_sample_ising_is_jittable_and_reference_engine_vmaps():
    model = ps.IsingLattice((8, 8))
    f = jax.jit(lambda k, t: ps.sample_ising(k, model, t, 20).energy)
    assert f(KEY, jnp.full(3, 2.0)).shape == (3, 20)
    keys = jax.random.split(KEY, 3)
    st = jax.vmap(lambda k: ps.init_ising(k, model, 2.5))(keys)
    st, tr = jax.vmap(lambda k, s: ps.run_ising(k, model, s, 10))(keys, st)
    assert tr.energy.shape == (3, 10) and st.spins.dtype == jnp.int8
