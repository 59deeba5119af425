"""Issue 17: a bad-input table over every public function of every subpackage.

For each covered function: a factory of cheap valid keyword arguments and a list of
(parameter, bad value) cases.  Generic rules by parameter name add the standard cases
(``key`` -> a plain int, temperature-like -> -1 and NaN, ``n_*`` sizes -> -1, option strings
-> "bogus"); each case must raise an exception whose message names the parameter.  Every
public function is either in ``TABLE`` or in ``UNCOVERED`` with the reason, so a new
function cannot slip through.  Most cases fail before any compilation (tiny sizes).
"""

import functools
import importlib
import inspect
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import physjax
from tests.helpers import public_functions

PACKAGES = [name for name in physjax.__all__ if name != "__version__"]
K = jax.random.key(0)
NAN = float("nan")


# ------------------------------------------------------------------ cheap fixtures

@functools.cache
def _fx(name):
    import physjax.dynamics as pd
    import physjax.graphs as pg
    import physjax.networks as pn
    import physjax.spins as ps
    if name == "rbm":
        return ps.init_rbm(K, 4, 3)
    if name == "bm":
        return ps.init_boltzmann_machine(K, 3, 1)
    if name == "lattice":
        return ps.IsingLattice((4, 4))
    if name == "dense":
        return ps.curie_weiss(8)
    if name == "patterns":
        return ps.random_patterns(K, 2, 8)
    if name == "grid":
        return pg.square_grid(3)
    if name == "spring":
        return pn.spring.spring_network(pg.triangular_grid(3))
    if name == "wigner":
        return pd.spiked_wigner(K, 8, 2.0)
    if name == "langevin":
        return pd.OverdampedLangevin(_fx("wigner"), dt=0.01, temperature=0.1)
    if name == "rtask":
        return pn.make_task([0, 8], [4], [1.0, 0.0], desired=[0.5], n_nodes=9)
    if name == "stask":
        return pn.strain.allostery_task(_fx("spring"), [0, 2], [6, 8])
    if name == "smodes":
        return pn.spring.normal_modes(_fx("spring"), np.ones(16))
    if name == "response":
        return pn.strain.linear_response(_fx("spring"), np.ones(16), _fx("stask").pairs)
    if name == "ising_state":
        return ps.init_ising(K, _fx("lattice"), 2.0)
    if name == "ms_state":
        return ps.init_multispin(K, _fx("lattice"), [2.0])
    if name == "dense_state":
        return ps.init_dense(K, _fx("dense"), 1.0)
    if name == "dyn_state":
        return pd.init_dynamics(K, _fx("langevin"), jnp.ones(8))
    raise KeyError(name)


def f(name):
    return lambda: _fx(name)


def _fx_chains():
    import physjax.spins as ps
    return ps.init_chains(K, _fx("rbm"), 2)


def _odd_lattice():
    import physjax.spins as ps
    return ps.IsingLattice((5, 5))


ONES4 = np.ones(4)
SERIES = np.arange(64.0) % 7     # a non-constant series
SPINS8 = np.ones(8)


def _quad(p):
    return jnp.sum(p["w"] ** 2)


PARAMS = {"w": jnp.arange(1.0, 4.0)}

# name -> (factory of valid kwargs, explicit (parameter, bad value) cases)
TABLE = {
    # ---------------------------------------------------------------- spins
    "spins.free_energy": (lambda: dict(rbm=_fx("rbm"), v=ONES4),
                          [("v", 2 * ONES4), ("v", np.ones(5)), ("v", np.full(4, NAN))]),
    "spins.rbm_energy": (lambda: dict(rbm=_fx("rbm"), v=ONES4, h=np.ones(3)),
                         [("v", np.ones(5)), ("h", np.ones(5))]),
    "spins.init_rbm": (lambda: dict(key=K, n_visible=4, n_hidden=3, visible="binary"),
                       [("visible", "bogus"), ("scale", -1.0)]),
    "spins.init_boltzmann_machine": (lambda: dict(key=K, n_visible=3, units="spin"),
                                     [("units", "bogus")]),
    "spins.init_chains": (lambda: dict(key=K, rbm=_fx("rbm"), n_chains=2), []),
    "spins.run_gibbs": (lambda: dict(key=K, rbm=_fx("rbm"),
                                     chains=_fx_chains(), n_steps=1), []),
    "spins.gibbs_step": (lambda: dict(key=K, rbm=_fx("rbm"), chains=_fx_chains()),
                         [("chains", "bogus")]),
    "spins.pseudo_log_likelihood": (lambda: dict(rbm=_fx("rbm"), data=np.ones((2, 4))),
                                    [("data", 2 * np.ones((2, 4))), ("data", np.ones((2, 5)))]),
    "spins.reconstruction_error": (lambda: dict(rbm=_fx("rbm"), data=np.ones((2, 4))),
                                   [("data", np.ones((2, 5)))]),
    "spins.rbm_exact_log_likelihood": (lambda: dict(rbm=_fx("rbm"), data=np.ones((2, 4))),
                                       [("data", np.full((2, 4), NAN))]),
    "spins.cd_gradient": (lambda: dict(key=K, rbm=_fx("rbm"), batch=np.ones((2, 4)), k=1),
                          [("batch", np.ones((2, 5))), ("k", -1)]),
    "spins.hopfield_to_rbm": (lambda: dict(hopfield=_fx("patterns"), beta=1.0), []),
    "spins.rbm_to_hopfield": (lambda: dict(rbm=_fx("rbm"), beta=1.0), []),
    "spins.bm_energy": (lambda: dict(bm=_fx("bm"), x=np.ones(4)), [("x", np.ones(7))]),
    "spins.bm_log_likelihood": (lambda: dict(bm=_fx("bm"), data=np.ones((2, 3))),
                                [("data", np.ones((2, 4))), ("data", 2 * np.ones((2, 3)))]),
    "spins.bm_sampled_correlations": (
        lambda: dict(key=K, bm=_fx("bm"), data=np.ones((2, 3)), n_chains=2, n_sweeps=1,
                     burn_in=0), [("burn_in", -1)]),
    "spins.fit_boltzmann_machine": (lambda: dict(key=K, bm=_fx("bm"), data=np.ones((2, 3)),
                                                 n_steps=1), [("n_steps", -1)]),
    "spins.autocorrelation": (lambda: dict(x=SERIES), [("x", np.full(8, NAN)), ("x", 1.0)]),
    "spins.integrated_autocorrelation_time": (
        lambda: dict(x=SERIES, c=5.0), [("x", np.ones(16)), ("x", np.full(8, NAN)),
                                        ("c", -1.0), ("x", 1.0)]),
    "spins.binder_cumulant": (lambda: dict(m=SERIES), [("m", np.full(8, NAN))]),
    "spins.binning_analysis": (lambda: dict(x=SERIES), [("x", np.full(8, NAN))]),
    "spins.binning_error": (lambda: dict(x=SERIES, min_bins=4),
                            [("x", np.full(8, NAN)), ("min_bins", -1)]),
    "spins.mean_and_error": (lambda: dict(x=SERIES, method="tau"),
                             [("method", "bogus"), ("x", np.full(8, NAN))]),
    "spins.specific_heat": (lambda: dict(e=SERIES, temperature=1.0, n_spins=4), []),
    "spins.susceptibility": (lambda: dict(m=SERIES, temperature=1.0, n_spins=4), []),
    "spins.curie_weiss": (lambda: dict(n_spins=8, J=1.0), [("J", NAN)]),
    "spins.sherrington_kirkpatrick": (lambda: dict(key=K, n_spins=8), []),
    "spins.random_patterns": (lambda: dict(key=K, n_patterns=2, n_spins=8), []),
    "spins.correlated_patterns": (lambda: dict(key=K, n_patterns=2, n_spins=8,
                                               correlation=0.2), [("correlation", NAN)]),
    "spins.corrupt": (lambda: dict(key=K, spins=SPINS8, fraction=0.1),
                      [("fraction", -1.0), ("spins", 2 * SPINS8)]),
    "spins.hebbian": (lambda: dict(patterns=_fx("patterns")),
                      [("patterns", 2 * np.ones((2, 8))), ("patterns", np.ones(8))]),
    "spins.dreaming": (lambda: dict(patterns=_fx("patterns"), sleep_time=1.0),
                       [("sleep_time", -1.0), ("patterns", 2 * np.ones((2, 8)))]),
    "spins.mattis_overlaps": (lambda: dict(patterns=_fx("patterns"), spins=SPINS8),
                              [("spins", np.ones(9)), ("spins", np.full(8, 0.5))]),
    "spins.noisy_examples": (lambda: dict(key=K, archetypes=_fx("patterns"), n_examples=2,
                                          quality=0.5), [("quality", NAN)]),
    "spins.init_ising": (lambda: dict(key=K, model=_fx("lattice"), temperature=2.0,
                                      start="random"), [("start", "bogus")]),
    "spins.init_multispin": (lambda: dict(key=K, model=_fx("lattice"), temperatures=[2.0],
                                          layout="auto"), [("layout", "bogus")]),
    "spins.sample_ising": (lambda: dict(key=K, model=_fx("lattice"), temperatures=[2.0],
                                        n_sweeps=2, rule="metropolis", engine="auto"),
                           [("model", _odd_lattice()), ("burn_in", -1)]),
    "spins.lattice_energy": (lambda: dict(model=_fx("lattice"), spins=np.ones((4, 4))),
                             [("spins", np.ones((4, 5))), ("spins", 2 * np.ones((4, 4)))]),
    "spins.init_dense": (lambda: dict(key=K, model=_fx("dense"), temperature=1.0), []),
    "spins.parallel_tempering": (lambda: dict(key=K, model=_fx("dense"),
                                              temperatures=[1.0, 2.0], n_rounds=1,
                                              rule="heat_bath"), []),
    "spins.relax": (lambda: dict(key=K, model=_fx("dense"), spins=SPINS8,
                                 dynamics="asynchronous"),
                    [("spins", np.ones(9)), ("dynamics", "bogus")]),
    "spins.enumerate_ising": (lambda: dict(shape=(2, 2), temperature=1.0), [("shape", (2,))]),
    "spins.onsager_energy_per_spin": (lambda: dict(temperature=1.0), []),
    "spins.onsager_specific_heat": (lambda: dict(temperature=1.0), []),
    "spins.onsager_yang_magnetization": (lambda: dict(temperature=1.0), []),
    "spins.replica_overlap": (lambda: dict(spins_a=SPINS8, spins_b=SPINS8),
                              [("spins_b", np.ones(9)), ("spins_a", np.zeros(8))]),
    "datasets.split_data": (lambda: dict(key=K, data=np.ones((10, 4)), test_fraction=0.2),
                            [("test_fraction", 1.5), ("test_fraction", NAN)]),
    "spins.check_temperature_ladder": (lambda: dict(temperatures=[1.0, 2.0]), []),
    "datasets.ising_configurations": (lambda: dict(key=K, L=4, temperatures=[2.0], n_samples=2,
                                                   units="spin", rule="metropolis",
                                                   engine="auto"), [("L", 5), ("units", "bogus")]),
    # ---------------------------------------------------------------- dynamics
    "dynamics.init_dynamics": (lambda: dict(key=K, dynamics=_fx("langevin"),
                                            position=jnp.ones(8)),
                               [("position", jnp.ones(7)), ("position", jnp.full(8, NAN))]),
    "dynamics.init_replicas": (lambda: dict(key=K, dynamics=_fx("langevin"),
                                            positions=jnp.ones((2, 8))),
                               [("positions", jnp.ones((2, 7)))]),
    "dynamics.log_spaced_steps": (lambda: dict(n_steps=100, n_records=10),
                                  [("n_records", 500)]),
    "dynamics.spiked_wigner": (lambda: dict(key=K, n=8, snr=1.0), [("n", -1), ("snr", NAN)]),
    "dynamics.spiked_matrix_tensor": (lambda: dict(key=K, n=8, p=3), [("n", -1), ("p", -1)]),
    "dynamics.spherical_p_spin": (lambda: dict(key=K, n=8, p=3), [("n", -1), ("p", -1)]),
    "dynamics.uniform_sphere": (lambda: dict(key=K, n=8), [("n", -1)]),
    "dynamics.signal_overlap": (lambda: dict(x=jnp.ones(8), signal=jnp.ones(8)),
                                [("signal", jnp.ones(7))]),
    "dynamics.aging_schedule": (lambda: dict(waiting_steps=[10], lag_steps=[0, 5]),
                                [("waiting_steps", [-1])]),
    "dynamics.mlp_parameter_count": (lambda: dict(in_size=2, out_size=1, width=3),
                                     [("in_size", -1), ("width", -1), ("width", 2.5)]),
    "dynamics.masked_mlp": (lambda: dict(key=K, in_size=2, out_size=1, max_width=4, width=3),
                            [("max_width", -1), ("width", 5)]),
    "datasets.teacher_student_task": (lambda: dict(key=K, in_size=2, teacher_width=2,
                                                   n_train=4, n_test=4), [("in_size", -1)]),
    "dynamics.loglog_slope": (lambda: dict(times=[1.0, 2.0, 4.0], values=[1.0, 2.0, 4.0]),
                              [("times", [1.0, NAN, 4.0]), ("values", [1.0, 2.0])]),
    # ---------------------------------------------------------------- curvature
    "curvature.hvp": (lambda: dict(f=_quad, params=PARAMS, v=PARAMS, mode="fwd-rev"),
                      [("mode", "bogus")]),
    "curvature.hvp_fn": (lambda: dict(f=_quad, params=PARAMS, mode="fwd-rev"),
                         [("mode", "bogus")]),
    "curvature.power_iteration_matvec": (lambda: dict(key=K, matvec=lambda v: v, dim=3, k=1),
                                         [("dim", -1), ("k", -1)]),
    "curvature.hutchinson_trace_matvec": (lambda: dict(key=K, matvec=lambda v: v, dim=3,
                                                       n_probes=2, probe="rademacher"),
                                          [("probe", "bogus")]),
    "curvature.hutch_plus_plus_matvec": (lambda: dict(key=K, matvec=lambda v: v, dim=3,
                                                      n_matvecs=4, probe="rademacher"),
                                         [("probe", "bogus")]),
    "curvature.lanczos_eigenpairs": (lambda: dict(key=K, matvec=lambda v: v, dim=3, k=1,
                                                  which="top"), [("which", "bogus")]),
    "curvature.symmetric_eigh": (lambda: dict(A=jnp.eye(3)),
                                 [("A", jnp.ones(3)), ("A", jnp.ones((2, 3)))]),
    "curvature.saddle_critical_point": (lambda: dict(n=3), [("n", -1)]),
    "curvature.saddle_hessian_trace": (lambda: dict(n=3), [("n", -1)]),
    "datasets.function_approximation_data": (lambda: dict(n_train=4, n_test=4), []),
    "curvature.fcnn": (lambda: dict(key=K, depth=1, width=3), [("depth", -1), ("width", -1)]),
    # ---------------------------------------------------------------- graphs
    "graphs.square_grid": (lambda: dict(rows=3, cols=3), [("rows", -1), ("cols", 0)]),
    "graphs.triangular_grid": (lambda: dict(rows=3, cols=3), [("rows", -1)]),
    "graphs.from_edge_list": (lambda: dict(edges=[[0, 1]], n_nodes=2),
                              [("edges", [[0, 5]]), ("edges", [0, 1])]),
    "graphs.random_regular": (lambda: dict(key=K, n_nodes=6, degree=2),
                              [("n_nodes", -1), ("degree", -1)]),
    "graphs.random_geometric": (lambda: dict(key=K, n_nodes=8, mean_coordination=3.0),
                                [("n_nodes", -1), ("mean_coordination", NAN)]),
    "graphs.laplacian": (lambda: dict(graph=_fx("grid"), weights=np.ones(12)),
                         [("weights", np.ones(11)), ("weights", np.full(12, NAN))]),
    "graphs.laplacian_matvec": (lambda: dict(graph=_fx("grid"), weights=np.ones(12),
                                             v=np.ones(9)), [("v", np.ones(8))]),
    "graphs.edge_differences": (lambda: dict(graph=_fx("grid"), node_values=np.ones(9)),
                                [("node_values", np.ones(8))]),
    "graphs.node_divergence": (lambda: dict(graph=_fx("grid"), edge_values=np.ones(12)),
                               [("edge_values", np.ones(11))]),
    "graphs.remove_edges": (lambda: dict(graph=_fx("grid"), edge_indices=[0]),
                            [("edge_indices", [99])]),
    "graphs.check_connected": (lambda: dict(graph=_fx("grid")), [("graph", "bogus")]),
    # ---------------------------------------------------------------- networks
    "networks.make_task": (lambda: dict(source_nodes=[0, 8], target_nodes=[4],
                                        inputs=[1.0, 0.0], desired=[0.5], n_nodes=9,
                                        source_kind="voltage"),
                           [("source_kind", "bogus"), ("inputs", [1.0, NAN])]),
    "networks.free_state": (lambda: dict(graph=_fx("grid"), conductances=np.ones(12),
                                         task=_fx("rtask"), solver="auto"),
                            [("solver", "bogus"), ("conductances", np.ones(11)),
                             ("conductances", -np.ones(12))]),
    "networks.train": (lambda: dict(network=_fx("grid"), parameters=np.ones(12),
                                    task=_fx("rtask"), rule="double_optimization",
                                    n_steps=1, nudge="centred"),
                       [("rule", "bogus"), ("nudge", "bogus")]),
    "networks.resolve_solver": (lambda: dict(solver="auto", graph=_fx("grid"),
                                             task=_fx("rtask")), []),
    "networks.solvers.as_solver": (lambda: dict(solver="auto"), []),
    "networks.solvers.resolve": (lambda: dict(
        solver="auto", info=importlib.import_module("physjax.networks.strain").system_info(
            _fx("spring"))), [("solver", "bogus")]),
    "networks.packing.jammed_network": (lambda: dict(key=K, n_particles=8,
                                                     mean_coordination=4.6),
                                        [("n_particles", 3), ("mean_coordination", NAN)]),
    "networks.packing.jammed_packing": (lambda: dict(key=K, n_particles=8), []),
    "networks.packing.bidisperse_radii": (lambda: dict(n_particles=8), []),
    "networks.spring.spring_network": (lambda: dict(graph=_fx("grid")), [("graph", "bogus")]),
    "networks.spring.elastic_energy": (lambda: dict(network=_fx("spring"),
                                                    stiffnesses=np.ones(16)),
                                       [("stiffnesses", np.ones(3)),
                                        ("stiffnesses", np.full(16, NAN))]),
    # ---------------------------------------------------------------- ensemble
    "ensemble.product_grid": (lambda: dict(a=[1.0, 2.0]), [("a", [1.0, NAN])]),
}

# ------------------------------------------------ issue 17 follow-up: built states and tasks

def _rk(**kw):
    """A 3 x 3 resistor grid (12 edges), unit conductances, one-target task."""
    return dict(graph=_fx("grid"), conductances=np.ones(12), task=_fx("rtask"), **kw)


def _sk(**kw):
    """A 3 x 3 triangular spring network (16 bonds), unit stiffnesses, allostery task."""
    return dict(network=_fx("spring"), stiffnesses=np.ones(16), task=_fx("stask"), **kw)


RC = [("conductances", np.ones(11)), ("conductances", np.full(12, NAN))]
SC = [("stiffnesses", np.ones(3)), ("stiffnesses", np.full(16, NAN))]
V19 = np.ones((1, 9))
U92 = np.zeros((9, 2))
PAIRS = np.array([[0, 2], [6, 8]])
MODES = np.eye(18)[:, :4]
def _pos():
    return np.asarray(_fx("spring").graph.positions)


TABLE.update({
    # ------------------------------------------------------------ networks (resistor)
    "networks.check_network": (lambda: _rk(), RC + [("conductances", -np.ones(12))]),
    "networks.clamped_state": (lambda: _rk(eta=0.5, solver="auto"),
                               RC + [("eta", -1.0), ("eta", NAN)]),
    "networks.nudged_state": (lambda: _rk(beta=0.1, solver="auto"), RC + [("beta", NAN)]),
    "networks.contrast": (lambda: _rk(eta=0.5, solver="auto"), RC + [("eta", -1.0)]),
    "networks.contrast_gradient": (lambda: _rk(eta=0.5, solver="auto"), RC + [("eta", NAN)]),
    "networks.coupled_learning_update": (lambda: _rk(eta=0.5), RC + [("eta", -1.0)]),
    "networks.double_optimization_gradient": (lambda: _rk(solver="auto"), RC),
    "networks.equilibrium_propagation_gradient": (
        lambda: _rk(beta=0.1, nudge="centred", solver="auto"), RC + [("beta", NAN)]),
    "networks.cost": (lambda: _rk(), RC),
    "networks.residuals": (lambda: _rk(), RC),
    "networks.cost_hessian": (lambda: _rk(solver="dense"), RC),
    "networks.cost_hessian_from_green": (lambda: _rk(), RC),
    "networks.cost_hvp_fn": (lambda: _rk(solver="auto", mode="fwd-rev"), RC),
    "networks.residual_jacobian": (lambda: _rk(solver="dense"), RC),
    "networks.gauss_newton_hessian": (lambda: _rk(), RC),
    "networks.edge_currents": (lambda: dict(graph=_fx("grid"), conductances=np.ones(12),
                                            voltages=V19), RC + [("voltages", np.ones((1, 8)))]),
    "networks.power": (lambda: dict(graph=_fx("grid"), conductances=np.ones(12), voltages=V19),
                       RC + [("voltages", np.ones((1, 8)))]),
    "networks.dissipated_power": (lambda: dict(graph=_fx("grid"), conductances=np.ones(12),
                                               voltages=V19),
                                  RC + [("voltages", np.ones((1, 8)))]),
    "networks.kirchhoff_residual": (lambda: dict(graph=_fx("grid"), conductances=np.ones(12),
                                                 voltages=V19),
                                    RC + [("voltages", np.ones((1, 8)))]),
    "networks.source_currents": (lambda: _rk(voltages=V19), RC + [("voltages", np.ones((1, 8)))]),
    "networks.power_partials": (lambda: dict(graph=_fx("grid"), voltages=V19),
                                [("voltages", np.ones((1, 8)))]),
    "networks.task_cost": (lambda: dict(task=_fx("rtask"), voltages=V19),
                           [("voltages", np.ones((2, 9))), ("voltages", np.ones(3))]),
    "networks.reduced_hessian": (lambda: dict(graph=_fx("grid"), conductances=np.ones(12),
                                              fixed_nodes=[0, 8]),
                                 RC + [("fixed_nodes", [0, 99])]),
    "networks.extended_hessian": (lambda: dict(graph=_fx("grid"), conductances=np.ones(12),
                                               fixed_nodes=[0, 8]),
                                  RC + [("fixed_nodes", [0, 99])]),
    "networks.physical_hessian_spectrum": (lambda: dict(graph=_fx("grid"),
                                                        conductances=np.ones(12),
                                                        fixed_nodes=[0, 8]),
                                           RC + [("fixed_nodes", [0, 99])]),
    "networks.count_stiff_modes": (lambda: dict(eigenvalues=np.arange(1.0, 4.0),
                                                relative_threshold=1e-6),
                                   [("eigenvalues", np.full(3, NAN)),
                                    ("relative_threshold", -1.0)]),
    "networks.cubic_current": (lambda: dict(alpha=1.0), [("alpha", -1.0), ("alpha", NAN)]),
    "networks.diode_current": (lambda: dict(scale=0.2), [("scale", -1.0), ("scale", NAN)]),
    "networks.learning_direction": (lambda: dict(rule="coupled_learning", network=_fx("grid"),
                                                 parameters=np.ones(12), task=_fx("rtask"),
                                                 eta=0.5, nudge="centred", solver="auto"),
                                    [("parameters", np.ones(11)), ("eta", -1.0)]),
    "networks.resolve_solver": (lambda: dict(solver="auto", graph=_fx("grid"),
                                             task=_fx("rtask")), []),
    # ------------------------------------------------------------ networks.localized
    "networks.localized.node_weights": (lambda: dict(vectors=MODES, n_nodes=9),
                                        [("vectors", np.ones((17, 4)))]),
    "networks.localized.binarize_modes": (lambda: dict(vectors=MODES, n_nodes=9,
                                                       threshold=0.5),
                                          [("vectors", np.ones((17, 4))),
                                           ("threshold", NAN)]),
    "networks.localized.boundary_edges": (lambda: dict(graph=_fx("grid"),
                                                       binary=np.ones((9, 2))),
                                          [("binary", np.ones((8, 2)))]),
    "networks.localized.spread_functional": (lambda: dict(modes=MODES, positions=_pos()),
                                             [("modes", np.full((18, 4), NAN)),
                                              ("positions", np.full((9, 2), NAN)),
                                              ("modes", np.ones((17, 4)))]),
    "networks.localized.maximally_localized_basis": (
        lambda: dict(key=K, modes=MODES, positions=_pos(), n_steps=2),
        [("modes", np.full((18, 4), NAN)), ("recentre_every", -1)]),
    "networks.localized.boundary_frequency": (
        lambda: dict(key=K, graph=_fx("grid"), modes=MODES, positions=_pos(), max_modes=2,
                     n_steps=2), [("max_modes", -1), ("max_modes", 9),
                                  ("positions", np.full((9, 2), NAN))]),
    # ------------------------------------------------------------ networks.spring
    "networks.spring.check_stiffnesses": (lambda: dict(network=_fx("spring"),
                                                       stiffnesses=np.ones(16)),
                                          SC + [("stiffnesses", -np.ones(16))]),
    "networks.spring.dynamical_matrix": (lambda: dict(network=_fx("spring"),
                                                      stiffnesses=np.ones(16)),
                                         SC + [("positions", np.ones((8, 2)))]),
    "networks.spring.dynamical_matvec": (lambda: dict(network=_fx("spring"),
                                                      stiffnesses=np.ones(16)),
                                         SC + [("positions", np.ones((8, 2)))]),
    "networks.spring.normal_modes": (lambda: dict(network=_fx("spring"),
                                                  stiffnesses=np.ones(16)),
                                     SC + [("positions", np.ones((8, 2))),
                                           ("rest_lengths", np.ones(3))]),
    "networks.spring.spring_forces": (lambda: dict(network=_fx("spring"),
                                                   stiffnesses=np.ones(16)),
                                      SC + [("positions", np.ones((8, 2))),
                                            ("rest_lengths", np.ones(3))]),
    "networks.spring.bond_lengths": (lambda: dict(network=_fx("spring")),
                                     [("positions", np.ones((8, 2))),
                                      ("positions", np.full((9, 2), NAN))]),
    "networks.spring.bond_vectors": (lambda: dict(network=_fx("spring")),
                                     [("positions", np.ones((8, 2)))]),
    "networks.spring.edge_strains": (lambda: dict(network=_fx("spring")),
                                     [("positions", np.ones((8, 2))),
                                      ("rest_lengths", np.ones(3))]),
    "networks.spring.rigidity_matrix": (lambda: dict(network=_fx("spring")),
                                        [("positions", np.ones((8, 2)))]),
    "networks.spring.rigid_body_modes": (lambda: dict(network=_fx("spring")),
                                         [("positions", np.ones((8, 2)))]),
    "networks.spring.floppy_mode_count": (lambda: dict(network=_fx("spring")),
                                          [("positions", np.ones((8, 2))),
                                           ("relative_tolerance", -1.0)]),
    "networks.spring.check_rigid": (lambda: dict(network=_fx("spring")),
                                    [("positions", np.ones((8, 2)))]),
    # ------------------------------------------------------------ networks.spring_learning
    "networks.spring_learning.strain_cost": (lambda: _sk(solver="auto"), SC),
    "networks.spring_learning.double_optimization_gradient": (lambda: _sk(solver="auto"), SC),
    "networks.spring_learning.regularized_contrast": (
        lambda: _sk(eta=0.1, solver="auto"),
        SC + [("eta", -1.0), ("energy_regularization", NAN)]),
    "networks.spring_learning.regularized_contrast_gradient": (
        lambda: _sk(eta=0.1, solver="auto"), SC + [("eta", NAN)]),
    "networks.spring_learning.coupled_learning_step": (
        lambda: _sk(eta=0.1, solver="auto"), SC + [("eta", -1.0)]),
    "networks.spring_learning.train_springs": (
        lambda: _sk(rule="coupled_learning", n_steps=1, solver="auto"),
        SC + [("learning_rate", NAN), ("k_min", -1.0)]),
    # ------------------------------------------------------------ networks.strain
    "networks.strain.allostery_task": (lambda: dict(network=_fx("spring"), source_pair=[0, 2],
                                                    target_pair=[6, 8], ratio=1.0),
                                       [("source_pair", [0, 99]), ("target_pair", [6, 6]),
                                        ("ratio", NAN)]),
    "networks.strain.cooperative_binding_task": (
        lambda: dict(network=_fx("spring"), site_a=[0, 2], site_b=[6, 8], strain=1.0),
        [("site_a", [0, 99]), ("strain", NAN)]),
    "networks.strain.make_strain_task": (
        lambda: dict(network=_fx("spring"), pairs=PAIRS, sources=[[1, 0]], targets=[[0, 1]],
                     inputs=[[1.0, 0.0]], desired=[[0.0, 0.5]]),
        [("pairs", [[0, 99], [6, 8]]), ("inputs", [[NAN, 0.0]]), ("desired", [[0.0]])]),
    "networks.strain.binding_energies": (
        lambda: dict(network=_fx("spring"), stiffnesses=np.ones(16), site_a=[0, 2],
                     site_b=[6, 8], solver="auto"), SC + [("site_a", [0, 99])]),
    "networks.strain.free_state": (lambda: _sk(method="linear", solver="auto"), SC),
    "networks.strain.clamped_state": (lambda: _sk(eta=0.5, solver="auto"),
                                      SC + [("eta", -1.0), ("eta", NAN)]),
    "networks.strain.linear_response": (lambda: dict(network=_fx("spring"),
                                                     stiffnesses=np.ones(16), pairs=PAIRS,
                                                     solver="auto"),
                                        SC + [("pairs", [[0, 99]])]),
    "networks.strain.energy_partials": (lambda: dict(network=_fx("spring"),
                                                     stiffnesses=np.ones(16),
                                                     displacements=U92[None]),
                                        SC + [("displacements", np.zeros((1, 8, 2))),
                                              ("displacements", U92)]),
    "networks.strain.linear_energy": (lambda: dict(network=_fx("spring"),
                                                   stiffnesses=np.ones(16),
                                                   displacements=U92),
                                      SC + [("displacements", np.zeros((8, 2)))]),
    "networks.strain.pair_strain_matrix": (lambda: dict(network=_fx("spring"), pairs=PAIRS),
                                           [("pairs", [[0, 99]]),
                                            ("positions", np.ones((8, 2)))]),
    "networks.strain.pair_strains": (lambda: dict(network=_fx("spring"), pairs=PAIRS,
                                                  displacements=U92),
                                     [("pairs", [[0, 99]]),
                                      ("displacements", np.zeros((8, 2)))]),
    "networks.strain.nudged_constrained_state": (
        lambda: dict(response=_fx("response"), task=_fx("stask"), beta=0.1),
        [("beta", NAN)]),
    "networks.strain.task_cost": (lambda: dict(task=_fx("stask"), strains=np.zeros((1, 2))),
                                  [("strains", np.zeros((1, 3)))]),
    "networks.strain.resolve_solver": (lambda: dict(solver="auto", network=_fx("spring")), []),
    "networks.strain.distant_sites": (lambda: dict(network=_fx("spring"), node=0),
                                      [("node", 99)]),
    # ------------------------------------------------------------ networks.thermal
    "networks.thermal.crossover_temperature": (lambda: _sk(), SC),
    "networks.thermal.strain_statistics": (lambda: _sk(temperature=0.1), SC),
    "networks.thermal.langevin_strain_samples": (
        lambda: dict(key=K, network=_fx("spring"), stiffnesses=np.ones(16), pairs=PAIRS,
                     temperature=0.1, n_replicas=2, n_samples=2, sample_every=1, burn_in=1),
        SC + [("pairs", [[0, 99]]), ("sample_every", -1)]),
    "networks.thermal.mode_compliance": (lambda: dict(modes=_fx("smodes"),
                                                      strain_matrix=np.ones((2, 18))),
                                         [("strain_matrix", np.ones((2, 17)))]),
    # ------------------------------------------------------------ networks.packing
    "networks.packing.prune_to_coordination": (
        lambda: dict(key=K, network=_fx("spring"), mean_coordination=3.0),
        [("mean_coordination", NAN), ("mean_coordination", 99.0), ("max_tries", -1)]),
    "networks.packing.soft_sphere_energy": (
        lambda: dict(positions=np.array([[1.0, 1.0], [2.0, 2.0]]), radii=np.ones(2), box=4.0),
        [("radii", np.ones(3)), ("positions", np.full((2, 2), NAN)), ("box", -1.0)]),
    "networks.packing.fire_minimize": (
        lambda: dict(energy_fn=lambda x: jnp.sum(x**2), x0=np.ones(2), dt=0.05, max_steps=2),
        [("x0", np.full(2, NAN)), ("dt", -1.0), ("max_steps", -1)]),
})

def _opt():
    import optax
    return optax.sgd(0.1)


def _train_state():
    import physjax.spins as ps
    return ps.init_training(K, _fx("rbm"), _opt(), n_chains=2)


def _examples():
    import physjax.spins as ps
    return ps.noisy_examples(K, _fx("patterns"), 2, 0.5)


def _packed():
    import physjax.spins as ps
    return ps.pack_spins(np.ones((1, 4, 64), np.int8), "strips")


D24 = np.ones((2, 4))
D23 = np.ones((2, 3))
R2 = np.ones((2, 8))          # two replicas of 8 spins

TABLE.update({
    # ---------------------------------------------------------------- spins (built states)
    "spins.ais_log_partition": (lambda: dict(key=K, rbm=_fx("rbm"), n_chains=2, n_betas=2),
                                [("betas", [0.0, NAN, 1.0])]),
    "datasets.binarized_digits": (lambda: dict(threshold=7.5, units="binary"),
                                  [("threshold", NAN)]),
    "spins.bm_exact_correlations": (lambda: dict(bm=_fx("bm"), data=D23),
                                    [("data", np.ones((2, 4))), ("data", 2 * D23)]),
    "spins.bm_gibbs_sweep": (lambda: dict(key=K, bm=_fx("bm"), x=np.ones(4)),
                             [("x", np.ones(7)), ("x", 2 * np.ones(4))]),
    "spins.dreaming_kernel": (lambda: dict(patterns=_fx("patterns"), sleep_time=1.0),
                              [("sleep_time", -1.0), ("patterns", 2 * np.ones((2, 8)))]),
    "spins.exact_finite_lattice": (lambda: dict(L=2, temperature=1.0), [("L", -1)]),
    "spins.kaufman_log_partition": (lambda: dict(L=2, temperature=1.0), [("L", -1)]),
    "spins.hamming_to_nearest_pattern": (lambda: dict(patterns=_fx("patterns"), spins=SPINS8),
                                         [("spins", np.ones(9))]),
    "spins.init_training": (lambda: dict(key=K, rbm=_fx("rbm"), optimizer=_opt(),
                                         method="pt", n_chains=2, n_temperatures=2), []),
    "spins.train_epochs": (lambda: dict(key=K, state=_train_state(), data=D24,
                                        optimizer=_opt(), n_epochs=1, batch_size=2, k=1),
                           [("data", np.ones((2, 5))), ("batch_size", -1), ("k", -1),
                            ("state", "bogus")]),
    "spins.train_rbm": (lambda: dict(key=K, rbm=_fx("rbm"), data=D24, n_epochs=1,
                                     batch_size=2, method="cd", k=1),
                        [("data", np.ones((2, 5))), ("batch_size", -1),
                         ("learning_rate", NAN)]),
    "datasets.ising_observables": (lambda: dict(configurations=np.ones((2, 16)), L=4,
                                                units="spin"),
                                   [("L", 5), ("configurations", 2 * np.ones((2, 16)))]),
    "spins.log_likelihood": (lambda: dict(rbm=_fx("rbm"), data=D24, log_partition=1.0),
                             [("data", np.ones((2, 5))), ("log_partition", NAN)]),
    "spins.rbm_exact_gradient": (lambda: dict(rbm=_fx("rbm"), data=D24),
                                 [("data", np.ones((2, 5))), ("data", 2 * D24)]),
    "spins.pcd_gradient": (lambda: dict(key=K, rbm=_fx("rbm"), batch=D24, chains=D24,
                                        k=1), [("batch", np.ones((2, 5))), ("k", -1)]),
    "spins.overlap_histogram": (lambda: dict(spins=R2, bins=5),
                                [("bins", -1), ("spins", SPINS8), ("spins", np.full((2, 8), NAN))]),
    "spins.overlap_matrix": (lambda: dict(spins=R2),
                             [("spins", SPINS8), ("spins", np.full((2, 8), 3.0))]),
    "spins.supervised_hebbian": (lambda: dict(examples=_examples(), quality=0.5),
                                 [("examples", np.ones((2, 8))), ("quality", NAN)]),
    "spins.unsupervised_hebbian": (lambda: dict(examples=_examples(), quality=0.5),
                                   [("examples", np.ones((2, 8))), ("quality", NAN)]),
    "spins.pack_spins": (lambda: dict(spins=np.ones((1, 4, 64), np.int8), layout="strips"),
                         [("spins", np.ones((1, 4, 6), np.int8))]),
    "spins.unpack_spins": (lambda: dict(black=_packed()[0], white=_packed()[1],
                                        layout="strips", shape=(4, 64)), []),
    "spins.run_ising": (lambda: dict(key=K, model=_fx("lattice"), state=_fx("ising_state"),
                                     n_sweeps=1, rule="metropolis"),
                        [("state", "bogus"), ("record_every", -1)]),
    "spins.checkerboard_sweep": (lambda: dict(key=K, model=_fx("lattice"),
                                              state=_fx("ising_state"), rule="metropolis"),
                                 [("state", "bogus")]),
    "spins.run_multispin": (lambda: dict(key=K, model=_fx("lattice"), state=_fx("ms_state"),
                                         n_sweeps=1, rule="metropolis"),
                            [("precision_bits", -1), ("record_every", -1)]),
    "spins.multispin_sweep": (lambda: dict(key=K, model=_fx("lattice"), state=_fx("ms_state"),
                                           rule="metropolis"), [("precision_bits", -1)]),
    "spins.run_dense": (lambda: dict(key=K, model=_fx("dense"), state=_fx("dense_state"),
                                     n_sweeps=1, rule="heat_bath", order="sequential"),
                        [("record_every", -1), ("block", -1)]),
    "spins.dense_sweep": (lambda: dict(key=K, model=_fx("dense"), state=_fx("dense_state"),
                                       rule="heat_bath", order="sequential"),
                          [("block", 0), ("state", "bogus"), ("model", "bogus")]),
})


def _sgd():
    import physjax.datasets as pdata
    import physjax.dynamics as pd
    task = pdata.teacher_student_task(K, in_size=2, teacher_width=2, n_train=4, n_test=4)
    return pd.MinibatchSGD(task, 0.1, 2)


def _sgd_state():
    import physjax.dynamics as pd
    net = pd.masked_mlp(K, in_size=2, out_size=1, max_width=4, width=3)
    return pd.init_sgd(K, _sgd(), net)


def _mlp():
    import equinox as eqx
    return eqx.nn.MLP(2, 1, 3, 1, key=K)


def _replicas():
    import physjax.dynamics as pd
    return pd.init_replicas(K, _fx("langevin"), jnp.ones((2, 8)))


REC = np.array([0, 1, 2, 3])
TT = dict(positions=np.ones((4, 8)), record_steps=REC, waiting_steps=[1], lag_steps=[0, 1])

TABLE.update({
    # ---------------------------------------------------------------- dynamics (built states)
    "dynamics.two_time_correlation": (lambda: dict(TT),
                                      [("record_steps", [3, 1, 2, 0]), ("waiting_steps", [-1]),
                                       ("lag_steps", [0, 9]), ("positions", np.ones((3, 8)))]),
    "dynamics.mean_square_displacement": (lambda: dict(TT),
                                          [("record_steps", [3, 1, 2, 0]),
                                           ("waiting_steps", [-1]),
                                           ("positions", np.ones((3, 8)))]),
    "dynamics.scaling_collapse": (lambda: dict(waiting_times=[10.0, 20.0],
                                               lag_times=[1.0, 2.0, 4.0],
                                               curves=np.ones((2, 3)), n_grid=4),
                                  [("curves", np.ones((2, 2))), ("exponent", NAN),
                                   ("waiting_times", [10.0, NAN])]),
    "dynamics.scan_with_records": (lambda: dict(key=K, step=lambda k, s: s + 1.0,
                                                state=jnp.zeros(()), record_steps=REC,
                                                observe=lambda s, n: s),
                                   [("record_steps", [3, 1]), ("record_steps", [-1, 2])]),
    "dynamics.run_dynamics": (lambda: dict(key=K, dynamics=_fx("langevin"),
                                           state=_fx("dyn_state"), record_steps=[0, 1]),
                              [("record_steps", [2, 1]), ("state", "bogus")]),
    "dynamics.run_replicas": (lambda: dict(key=K, dynamics=_fx("langevin"), states=_replicas(),
                                           record_steps=[0, 1]),
                              [("record_steps", [2, 1]), ("states", "bogus")]),
    "dynamics.embed_mlp": (lambda: dict(mlp=_mlp(), max_width=4),
                           [("max_width", -1), ("max_width", 2), ("mlp", "bogus")]),
    "datasets.digits_task": (lambda: dict(key=K, n_test=10), [("n_test", 5000)]),
    "dynamics.run_sgd": (lambda: dict(key=K, sgd=_sgd(), state=_sgd_state(), record_steps=[0, 1]),
                         [("record_steps", [2, 1]), ("state", "bogus"), ("sgd", "bogus")]),
    "dynamics.sgd_width_sweep": (lambda: dict(key=K, sgd=_sgd(), widths=[2], n_replicas=1,
                                              record_steps=[0, 1], progress=False),
                                 [("widths", [-1]), ("record_steps", [2, 1]),
                                  ("max_width", 1), ("depth", -1)]),
    "dynamics.init_sgd": (lambda: dict(key=K, sgd=_sgd(), network=_sgd_state().network),
                          [("sgd", "bogus"), ("network", "bogus")]),
})


def _model():
    import physjax.curvature as pc
    return pc.fcnn(K, depth=1, width=3)


def _mse(model, x, y):
    return jnp.mean((jax.vmap(model)(x) - y) ** 2)


XY = (np.ones((4, 1)), np.ones((4, 1)))
IDV = lambda v: v   # noqa: E731  (identity matvec)

TABLE.update({
    # ---------------------------------------------------------------- curvature
    "curvature.curvature_trace_estimate": (
        lambda: dict(key=K, f=_quad, params=PARAMS, n_directions=2,
                     alphas=np.array([-0.01, 0.0, 0.01])),
        [("alphas", np.array([-0.01, NAN, 0.01])), ("f", "bogus")]),
    "datasets.digits_data": (lambda: dict(key=K, n_test=10), [("n_test", 5000)]),
    "curvature.extreme_curvature_directions": (
        lambda: dict(key=K, f=_quad, params=PARAMS, n_steps=3, mode="fwd-rev"),
        [("tol", -1.0), ("max_restarts", -1), ("n_steps", -1)]),
    "curvature.extreme_curvature_directions_matvec": (
        lambda: dict(key=K, matvec=IDV, dim=3, n_steps=3),
        [("dim", -1), ("tol", NAN), ("matvec", "bogus")]),
    "curvature.hessian_directions": (lambda: dict(key=K, f=_quad, params=PARAMS),
                                     [("tol", -1.0)]),
    "curvature.hessian_eigenpairs": (lambda: dict(key=K, f=_quad, params=PARAMS, k=1,
                                                  which="top", mode="fwd-rev"),
                                     [("k", -1), ("k", 99), ("tol", -1.0)]),
    "curvature.hutch_plus_plus": (lambda: dict(key=K, f=_quad, params=PARAMS, n_matvecs=4,
                                               probe="rademacher", mode="fwd-rev"), []),
    "curvature.hutchinson_trace": (lambda: dict(key=K, f=_quad, params=PARAMS, n_probes=2,
                                                probe="rademacher", mode="fwd-rev"),
                                   [("batch_size", -1)]),
    "curvature.lanczos": (lambda: dict(matvec=IDV, v0=jnp.ones(3), n_steps=2),
                          [("n_steps", -1), ("v0", jnp.full(3, NAN)), ("v0", jnp.zeros(3))]),
    "curvature.loss_line": (lambda: dict(f=_quad, params=PARAMS, direction=PARAMS,
                                         alphas=[0.0, 1.0]),
                            [("alphas", [0.0, NAN]), ("direction", {"v": jnp.ones(3)})]),
    "curvature.loss_plane": (lambda: dict(f=_quad, params=PARAMS, d1=PARAMS, d2=PARAMS,
                                          alphas=[0.0, 1.0], betas=[0.0, 1.0]),
                             [("betas", [0.0, NAN]), ("d2", {"v": jnp.ones(3)})]),
    "curvature.plane_minimum": (lambda: dict(values=np.ones((2, 3)), alphas=[0.0, 1.0],
                                             betas=[0.0, 1.0, 2.0]),
                                [("values", np.ones((3, 3))), ("values", np.full((2, 3), NAN))]),
    "curvature.power_iteration": (lambda: dict(key=K, f=_quad, params=PARAMS, k=1, n_iter=2,
                                               mode="fwd-rev"),
                                  [("k", -1), ("n_iter", -1), ("tol", -1.0)]),
    "curvature.projected_hessian": (lambda: dict(f=_quad, params=PARAMS, d1=PARAMS, d2=PARAMS,
                                                 mode="fwd-rev"),
                                    [("d1", {"v": jnp.ones(3)})]),
    "curvature.random_direction": (lambda: dict(key=K, params=PARAMS, normalization=None,
                                                bias="zero"),
                                   [("normalization", "bogus"), ("bias", "bogus")]),
    "curvature.random_projection_curvatures": (
        lambda: dict(key=K, f=_quad, params=PARAMS, n_planes=1, mode="fwd-rev"),
        [("bias", "bogus"), ("normalization", "bogus")]),
    "curvature.saddle_hessian": (lambda: dict(theta=np.ones(3), n_positive=1),
                                 [("n_positive", -1), ("n_positive", 9),
                                  ("theta", np.ones((2, 2)))]),
    "curvature.saddle_hessian_diagonal": (lambda: dict(theta=np.ones(3), n_positive=1),
                                          [("n_positive", -1), ("n_positive", 9)]),
    "curvature.saddle_loss": (lambda: dict(theta=np.ones(3), n_positive=1),
                              [("n_positive", -1), ("n_positive", 9)]),
    "curvature.spectral_density": (lambda: dict(key=K, f=_quad, params=PARAMS, n_runs=1,
                                                n_steps=2, n_grid=8, probe="rademacher",
                                                mode="fwd-rev"), [("sigma", -1.0)]),
    "curvature.spectral_density_matvec": (lambda: dict(key=K, matvec=IDV, dim=3, n_runs=1,
                                                       n_steps=2, n_grid=8,
                                                       probe="rademacher"),
                                          [("dim", -1), ("sigma", -1.0)]),
    "curvature.train": (lambda: dict(model=_model(), loss=_mse, batch=XY, n_steps=1),
                        [("n_steps", -1), ("learning_rate", NAN), ("batch", "bogus")]),
    "curvature.tridiagonal_eigh_float64": (lambda: dict(alphas=jnp.ones((1, 3)),
                                                        offdiag=jnp.ones((1, 2))),
                                           [("offdiag", jnp.ones((1, 5))),
                                            ("alphas", jnp.ones(3))]),
    "curvature.principal_curvatures": (lambda: dict(hessian_2x2=np.eye(2)),
                                       [("hessian_2x2", np.ones(3)),
                                        ("hessian_2x2", np.full((2, 2), NAN))]),
    "curvature.unflatten": (lambda: dict(like=PARAMS, vector=jnp.ones(3)),
                            [("vector", jnp.ones(4))]),
    "curvature.full_hessian": (lambda: dict(f=_quad, params=PARAMS), [("f", "bogus")]),
})

TABLE.update({
    # ---------------------------------------------------------------- ensemble
    "ensemble.sweep": (lambda: dict(fn=lambda k, p: p["a"], key=K, grid={"a": jnp.ones(2)},
                                    n_replicas=1, progress=False),
                       [("chunk_size", -1), ("fn", "bogus"), ("grid", {"a": jnp.full(2, NAN)})]),
    "ensemble.unflatten_grid": (lambda: dict(tree={"a": jnp.ones(4)}, shape=(2, 2)),
                                [("shape", (3,)), ("shape", (-2, -2))]),
})

TABLE.update({
    "networks.kind_of": (lambda: dict(network=_fx("grid"), task=_fx("rtask")),
                         [("task", "bogus")]),
    "graphs.incidence_matrix": (lambda: dict(graph=_fx("grid")), [("graph", "bogus")]),
    "graphs.degrees": (lambda: dict(graph=_fx("grid")), [("graph", "bogus")]),
    "graphs.mean_coordination": (lambda: dict(graph=_fx("grid")), [("graph", "bogus")]),
    "graphs.connected_components": (lambda: dict(graph=_fx("grid")), [("graph", "bogus")]),
})


# ------------------------------------------------ issue 19: diffusion and the φ⁴ model

@functools.cache
def _dfx(name):
    import physjax.diffusion as pdf
    import physjax.spins as ps
    if name == "ou":
        return pdf.OU(1.0)                      # horizon T = 1
    if name == "gauss":
        return pdf.GaussianScore(_dfx("ou"), jnp.zeros(2), 1.0)
    if name == "empirical":
        return pdf.EmpiricalScore(_dfx("ou"), jnp.arange(6.0).reshape(3, 2))
    if name == "phi4":
        return ps.Phi4((2, 2), 0.1, 0.0)
    if name == "phi4_steps":
        return ps.Phi4Steps(_dfx("phi4"), 0.5, 1.0)
    if name == "phi4_state":
        return ps.Phi4State(jnp.ones((2, 2)))
    if name == "phi4_trace":
        m = jnp.linspace(-1.0, 1.0, 8)
        return ps.Phi4Trace(m, m**2 + 1.0, m)
    raise KeyError(name)


def _wrong_shape_score(x, t):
    """A score whose output is not the shape of one sample."""
    return jnp.ones(x.shape[0] + 1)


def _bad_phi4_state():
    import physjax.spins as ps
    return ps.Phi4State(jnp.ones((3, 3)))


def _sign_class(x):
    return (x[0] > 0).astype(jnp.int32)


X22 = np.ones((2, 2))
D32 = np.array([[0.0, 1.0], [1.0, 0.5], [2.0, 3.0]])     # three points in d = 2
GRID = [1.0, 0.5, 0.1]                                   # decreasing, in (0, T = 1]


def _ou():
    return _dfx("ou")


def _gs():
    return _dfx("gauss")


TIMES_BAD = [("times", [0.1, 0.5, 1.0]),                 # increasing
             ("times", [1.0, 0.5, 0.5]),                 # not strictly decreasing
             ("times", [2.0, 0.5, 0.1]),                 # beyond T
             ("times", [1.0, 0.5, 0.0]),                 # t = 0 is outside (0, T]
             ("times", [1.0]), ("times", [1.0, NAN])]

TABLE.update({
    # ---------------------------------------------------------------- diffusion (forward)
    "diffusion.noise": (lambda: dict(key=K, schedule=_ou(), x0=X22, t=0.5),
                        [("t", 2.0), ("t", -0.1), ("t", NAN), ("t", "bogus"),
                         ("x0", np.full((2, 2), NAN)), ("schedule", "bogus")]),
    "diffusion.simulate_forward": (lambda: dict(key=K, schedule=_ou(), x0=X22, n_steps=2,
                                                dt=0.1),
                                   [("dt", -0.1), ("dt", 0.0), ("dt", NAN), ("dt", 1.0),
                                    ("n_steps", 0), ("record_every", -1),
                                    ("x0", np.full((2, 2), NAN)), ("schedule", "bogus")]),
    # ---------------------------------------------------------------- diffusion (backward)
    "diffusion.time_grid": (lambda: dict(schedule=_ou(), n_steps=2, spacing="log_snr"),
                            [("t_start", 2.0), ("t_start", 0.0), ("t_end", 0.0),
                             ("t_end", -1.0), ("t_end", 1.0), ("t_end", NAN),
                             ("spacing", "bogus"), ("n_steps", 0), ("schedule", "bogus")]),
    "diffusion.prior_sample": (lambda: dict(key=K, schedule=_ou(), n=2, d=2),
                               [("n", 0), ("n", -1), ("d", 0), ("schedule", "bogus")]),
    "diffusion.reverse": (lambda: dict(key=K, schedule=_ou(), score=_gs(), x=X22, times=GRID,
                                       process="sde", method="euler_maruyama",
                                       record_steps=[0, 2]),
                          TIMES_BAD + [("score", _wrong_shape_score), ("score", "bogus"),
                                       ("x", np.ones(2)), ("x", np.ones((2, 3))),
                                       ("x", np.full((2, 2), NAN)), ("process", "bogus"),
                                       ("record_steps", [0, 9]), ("observe", "bogus"),
                                       ("schedule", "bogus")]),
    "diffusion.sample": (lambda: dict(key=K, schedule=_ou(), score=_gs(), n_samples=2, d=2,
                                      n_steps=2, process="sde", method="euler_maruyama",
                                      spacing="log_snr"),
                         [("score", _wrong_shape_score), ("d", 0), ("t_end", 2.0),
                          ("t_end", 0.0), ("process", "bogus"), ("spacing", "bogus")]),
    "diffusion.clone": (lambda: dict(key=K, schedule=_ou(), score=_gs(), x0=X22, t=0.5,
                                     n_clones=2, n_steps=2, process="sde",
                                     method="euler_maruyama", spacing="log_snr"),
                        [("t", 2.0), ("t", 0.0), ("t", NAN), ("t", [0.5, 2.0]),
                         ("t_end", 0.6), ("t_end", 0.0), ("score", _wrong_shape_score),
                         ("x0", np.ones((2, 2, 2))), ("x0", np.full((2, 2), NAN)),
                         ("n_clones", 0), ("process", "bogus"), ("spacing", "bogus")]),
    # ---------------------------------------------------------------- diffusion (scores)
    "diffusion.curie_weiss_magnetization_law": (lambda: dict(n_spins=4, beta=0.5, h=0.0),
                                                [("n_spins", 0), ("h", NAN)]),
    "diffusion.sample_curie_weiss": (lambda: dict(key=K, n_samples=2, n_spins=4, beta=0.5,
                                                  h=0.0), [("n_spins", 0), ("h", NAN)]),
    "diffusion.mean_field_magnetization": (lambda: dict(beta=0.5, h=0.0, n_iter=10),
                                           [("h", NAN)]),
    # ---------------------------------------------------------------- diffusion (regimes)
    "diffusion.covariance_spectrum": (lambda: dict(data=D32),
                                      [("data", np.ones((0, 2))), ("data", np.ones((1, 2))),
                                       ("data", np.ones(3)), ("data", np.full((3, 2), NAN))]),
    "diffusion.speciation_time": (lambda: dict(data=D32, schedule=_ou()),
                                  [("data", np.ones((0, 2))), ("data", np.full((3, 2), NAN)),
                                   ("schedule", "bogus")]),
    "diffusion.speciation_time_from_spectrum": (lambda: dict(largest_eigenvalue=2.0,
                                                             schedule=_ou()),
                                                [("largest_eigenvalue", NAN),
                                                 ("schedule", "bogus")]),
    "diffusion.excess_entropy": (lambda: dict(t=0.5, eigenvalues=np.ones(2), n=4,
                                              schedule=_ou()),
                                 [("n", 0), ("n", -1), ("t", -1.0), ("t", NAN),
                                  ("eigenvalues", [1.0, NAN]), ("schedule", "bogus")]),
    "diffusion.collapse_time_from_spectrum": (
        lambda: dict(eigenvalues=np.ones(2), n=4, schedule=_ou(), n_bisect=50),
        [("n", 0), ("eigenvalues", [1.0, NAN]), ("eigenvalues", np.ones((2, 2))),
         ("eigenvalues", []), ("schedule", "bogus")]),
    "diffusion.collapse_time": (lambda: dict(data=D32, schedule=_ou(), n=4),
                                [("data", np.ones((0, 2))), ("data", np.full((3, 2), NAN)),
                                 ("n", 0), ("schedule", "bogus")]),
    "diffusion.same_class_probability": (lambda: dict(labels=np.ones((2, 2), np.int32)),
                                         [("labels", np.ones((2, 1), np.int32)),
                                          ("labels", np.ones(2, np.int32))]),
    "diffusion.cloning_curve": (lambda: dict(key=K, schedule=_ou(), score=_gs(), x0=X22,
                                             times=[0.5], classify=_sign_class, n_clones=2,
                                             n_steps=2, process="sde",
                                             method="euler_maruyama"),
                                [("classify", "bogus"), ("n_clones", 1), ("times", [2.0]),
                                 ("times", [0.0]), ("score", _wrong_shape_score),
                                 ("t_end", 0.0), ("process", "bogus")]),
    "diffusion.nearest_posterior_weight": (lambda: dict(score=_dfx("empirical"), x=X22, t=0.5),
                                           [("score", _gs()), ("t", 2.0), ("t", 0.0),
                                            ("x", np.ones((2, 3))),
                                            ("x", np.full((2, 2), NAN))]),
    "diffusion.collapse_curve": (lambda: dict(key=K, score=_dfx("empirical"), n_trajectories=2,
                                              n_steps=2, process="sde",
                                              method="euler_maruyama"),
                                 [("score", _gs()), ("t_end", 2.0), ("t_end", 0.0),
                                  ("process", "bogus")]),
    "diffusion.collapsed_fraction": (lambda: dict(samples=X22, training=D32, ratio=1 / 3),
                                     [("training", np.ones((0, 2))),   # n = 0 training points
                                      ("samples", np.ones((2, 3))), ("ratio", 0.0),
                                      ("ratio", NAN), ("training", np.full((3, 2), NAN))]),
    "diffusion.crossing_time": (lambda: dict(times=[1.0, 0.5], values=[0.2, 0.8], level=0.5),
                                [("values", [0.2]), ("times", [[1.0, 0.5]]),
                                 ("times", [1.0, NAN]), ("values", [0.2, NAN]),
                                 ("level", NAN)]),
    # ---------------------------------------------------------------- spins: φ⁴ and projector
    "spins.phi4_action": (lambda: dict(action=_dfx("phi4"), field=np.ones((2, 2))),
                          [("field", np.ones((3, 3))), ("field", np.full((2, 2), NAN)),
                           ("action", "bogus")]),
    "spins.phi4_observables": (lambda: dict(action=_dfx("phi4"), state=_dfx("phi4_state")),
                               [("state", "bogus"), ("state", _bad_phi4_state()),
                                ("action", "bogus")]),
    "spins.lattice_momenta": (lambda: dict(shape=(2, 2)),
                              [("shape", (2,)), ("shape", (1, 2)), ("shape", (2, 2, 2, 2))]),
    "spins.free_propagator": (lambda: dict(shape=(2, 2), kappa=0.1),
                              [("kappa", -0.1), ("kappa", 0.25), ("kappa", NAN),
                               ("kappa", np.ones(2)), ("shape", (2,))]),
    "spins.two_point_function": (lambda: dict(field=np.ones((2, 2)), ndim=2),
                                 [("ndim", 4), ("ndim", -1), ("field", np.ones(3)),
                                  ("field", np.full((2, 2), NAN))]),
    "spins.sample_phi4": (lambda: dict(key=K, kernel=importlib.import_module(
        "physjax.spins").Phi4HMC(), model=_dfx("phi4_steps"), n_chains=1, n_steps=1,
        record_every=1, start="random"),
        [("kernel", "bogus"), ("model", "bogus"), ("burn_in", -1), ("record_every", -1),
         ("record_every", 2), ("n_chains", 0)]),
    "spins.phi4_estimates": (lambda: dict(trace=_dfx("phi4_trace"), volume=4, n_blocks=2),
                             [("trace", "bogus"), ("volume", 0), ("n_blocks", 1),
                              ("blocks", "bogus")]),
    "dynamics.wigner_equilibrium_overlap": (
        lambda: dict(snr=2.0, temperature=0.5),
        [("snr", 0.0), ("snr", NAN), ("temperature", -1.0), ("temperature", NAN)]),
    "dynamics.matrix_channel_overlap": (
        lambda: dict(delta2=0.5, temperature=0.5),
        [("delta2", 0.0), ("delta2", NAN), ("temperature", -1.0)]),
    "spins.ags_retrieval_line": (lambda: dict(temperatures=[0.0, 0.5]),
                                 [("temperatures", [-0.1]), ("temperatures", [NAN])]),
    "spins.spin_glass_temperature": (lambda: dict(alpha=0.1),
                                     [("alpha", -0.1), ("alpha", NAN)]),
    "spins.retrieval_threshold": (
        lambda: dict(alphas=[0.05, 0.1, 0.2], overlaps=[1.0, 0.99, 0.2]),
        [("alphas", [0.1]), ("alphas", [0.2, 0.1, 0.05]), ("alphas", [0.05, NAN, 0.2]),
         ("overlaps", [1.0, 0.5]), ("level", NAN)]),
    "spins.projector": (lambda: dict(patterns=_fx("patterns")),
                        [("patterns", 2 * np.ones((2, 8))), ("patterns", np.ones((2, 8))),
                         ("patterns", np.ones((9, 8))), ("h", NAN)]),
    "spins.projector_kernel": (lambda: dict(patterns=_fx("patterns")),
                               [("patterns", 2 * np.ones((2, 8))),
                                ("patterns", np.ones((2, 8))), ("patterns", np.ones((9, 8)))]),
})


def _score_net():
    import physjax.diffusion as pdf
    return pdf.ScoreMLP(K, 2, _ou(), width=4, depth=1, n_frequencies=2)


# score matching (physjax/diffusion/score_matching.py)
TABLE.update({
    "diffusion.denoising_score_loss": (
        lambda: dict(key=K, net=_score_net(), data=D32, t_min=1e-3,
                     time_sampling="uniform"),
        [("net", "bogus"), ("data", np.ones((0, 2))),      # n = 0 training points
         ("data", np.ones((3, 3))), ("data", np.full((3, 2), NAN)), ("data", np.ones(3)),
         ("t_min", 0.0), ("t_min", 2.0), ("t_min", NAN), ("time_sampling", "bogus")]),
    "diffusion.train_score": (
        lambda: dict(key=K, net=_score_net(), data=D32, n_steps=1, batch_size=2,
                     learning_rate=1e-3, decay="cosine", t_min=1e-3,
                     time_sampling="uniform"),
        [("net", "bogus"), ("data", np.ones((0, 2))),      # n = 0 training points
         ("data", np.ones((3, 3))), ("data", np.full((3, 2), NAN)), ("n_steps", 0),
         ("batch_size", 0), ("learning_rate", -1.0), ("learning_rate", NAN),
         ("decay", "bogus"), ("t_min", 0.0), ("t_min", 2.0),
         ("time_sampling", "bogus"), ("schedule", "bogus"), ("optimizer", "bogus")]),
})


# Reasons, by kind
OBJECTS = ("its required arguments are objects, callables or pytrees (a graph, network, "
           "model, state, energy): no standard scalar/array/option case applies")

UNCHECKED = ("documented as an unchecked inner kernel ('no input checks'): the learning rules "
             "call it on every step after validating once; its checked counterparts "
             "(free_state, cost, the *_gradient rules) are in the table")

KERNEL = ("a pure elementwise jnp kernel of an unconstrained array (run inside compiled "
          "code; any shape and value, NaN in gives NaN out): no standard case applies")
VARARGS = ("takes its data as *args, which the keyword-only table cannot pass; its keyword "
           "options are checked in its module's tests")

UNCOVERED = {
    "spins.ags_zero_temperature": "takes no arguments",
    "datasets.function_approximation_target": KERNEL,
    "networks.cost_gradient": UNCHECKED,
    "networks.equilibria": UNCHECKED,
    "networks.strain.cost_gradient": UNCHECKED,
    "networks.strain.equilibria": UNCHECKED,
    "curvature.flatten": OBJECTS,
    "curvature.ggn_vp": OBJECTS,
    "curvature.loss_of_parameters": VARARGS,
    "dynamics.energy_and_gradient": OBJECTS,
    "graphs.from_networkx": OBJECTS,
    "graphs.largest_biconnected_component": OBJECTS,
    "graphs.to_networkx": OBJECTS,
    "networks.co_content": KERNEL,
    "networks.packing.contact_network": OBJECTS,
    "networks.solvers.default_rtol": OBJECTS,
    "networks.strain.banded_plan": OBJECTS,
    "networks.strain.multifrontal_plan": OBJECTS,
    "networks.strain.system_info": OBJECTS,
    "spins.bm_learning_rule": OBJECTS,
    "spins.bm_log_partition": OBJECTS,
    "spins.jackknife": VARARGS,
    "spins.magnetization": KERNEL,
    "spins.multispin_spins": OBJECTS,
    "spins.neighbour_sum": KERNEL,
    "spins.rbm_log_partition": OBJECTS,
}

TEMPERATURE_LIKE = {"temperature", "temperatures", "beta"}
OPTIONS = {"rule", "method", "solver", "nudge", "kind", "units", "engine", "start", "layout",
           "probe", "mode", "which", "order", "dynamics", "source_kind", "visible", "hidden"}


# documented: temperature 0 means zero-temperature dynamics
ZERO_TEMPERATURE_OK = {"spins.init_dense", "networks.thermal.strain_statistics",
                       # T = 0 is gradient flow
                       "dynamics.wigner_equilibrium_overlap", "dynamics.matrix_channel_overlap"}
# ``beta`` is a nudge amplitude there, not an inverse temperature: any finite sign is valid
SIGNED_BETA = {"networks.nudged_state", "networks.equilibrium_propagation_gradient",
               "networks.strain.nudged_constrained_state"}


def _generic_cases(fname, valid):
    cases = []
    for name, value in valid.items():
        if name == "key":
            cases.append((name, 0))
        elif name == "beta" and fname in SIGNED_BETA:
            cases.append((name, NAN))
        elif name in TEMPERATURE_LIKE:
            cases += [(name, -1.0), (name, NAN)]
            if name == "temperature" and fname not in ZERO_TEMPERATURE_OK:
                cases.append((name, 0.0))
        elif re.fullmatch(r"n_\w+", name) and isinstance(value, int) and value > 0:
            cases.append((name, -1))
        elif name in OPTIONS and isinstance(value, str):
            cases.append((name, "bogus"))
    return cases


def _cases(fname):
    factory, explicit = TABLE[fname]
    return list(explicit) + [c for c in _generic_cases(fname, factory()) if c not in explicit]


ALL = public_functions()


def _names_the_parameter(fname, param, bad):
    """None if ``fname(**valid, param=bad)`` raises an exception whose message names
    ``param``; otherwise what went wrong."""
    kwargs = TABLE[fname][0]()
    kwargs[param] = bad
    try:
        ALL[fname](**kwargs)
    except Exception as error:  # noqa: BLE001  (any exception type, as long as it names param)
        msg = str(error)
        if re.search(rf"(?<![\w]){re.escape(param)}(?![\w])", msg):
            return None
        return (f"{fname}({param}={bad!r}) raised {type(error).__name__} without naming "
                f"{param}: {msg[:300]}")
    return f"{fname}({param}={bad!r}) did not raise"


# One test per function, its cases checked in turn: the valid arguments are built when the
# test runs, not when pytest collects (every xdist worker collects the whole table, and
# building every function's arguments there cost each worker about 20 s of compiling).
@pytest.mark.parametrize("fname", sorted(TABLE))
def test_bad_input_names_the_parameter(fname):
    signature = inspect.signature(ALL[fname])
    cases = _cases(fname)
    assert cases, f"{fname}: no bad-input cases"
    for param, _ in cases:
        assert param in signature.parameters or "**" in str(signature), (fname, param)
    failures = [f for param, bad in cases if (f := _names_the_parameter(fname, param, bad))]
    assert not failures, "\n".join(failures)


def test_every_public_function_is_covered_or_listed():
    names = set(ALL)
    covered, listed = set(TABLE), set(UNCOVERED)
    assert not covered & listed, sorted(covered & listed)
    assert not (covered | listed) - names, sorted((covered | listed) - names)
    missing = names - covered - listed
    assert not missing, f"public functions neither in TABLE nor UNCOVERED: {sorted(missing)}"
