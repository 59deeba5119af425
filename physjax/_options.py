"""The option names of physjax's public API: one ``typing.Literal`` alias per option.

Every parameter that takes a rule or method name is annotated with its alias, and
``physjax._checks.check_choice(value, "name", Alias)`` validates against it, so each set
of names is written once; ``typing.get_args(Alias)`` lists it.  Each family re-exports
its aliases in its ``__all__`` (``physjax.spins.UpdateRule``).  They live together here,
as the array types live in ``_array_types.py``, so that modules sharing an option (the
single-spin rules of the lattice sampler, tempering and the data sets; the HVP modes of
every curvature estimator) import it from one place (docs/ARCHITECTURE.md, "Types").
"""

from typing import Literal

# -------------------------------------------------- physical learning networks (physjax.networks)

#: Solver names accepted by ``solver=`` (the table in :mod:`physjax.networks.solvers`).
SolverName = Literal["auto", "dense", "banded", "multifrontal", "cg"]
#: Sources: imposed voltages or injected currents.
SourceKind = Literal["voltage", "current"]
#: How a strained state is found: linear response, Newton, or FIRE relaxation.
StrainMethod = Literal["linear", "newton", "fire"]
#: Learning rules of :func:`physjax.networks.train`.
LearningRule = Literal["double_optimization", "coupled_learning", "equilibrium_propagation"]
#: Equilibrium-propagation nudges: +beta, -beta, or centred (both).
Nudge = Literal["positive", "negative", "centred"]

# ------------------------------------------------------------------- spin systems (physjax.spins)

#: Single-spin update rules: Metropolis and heat bath (Glauber).
UpdateRule = Literal["metropolis", "heat_bath"]
#: Initial spins: random, all up, or all down.
IsingStart = Literal["random", "up", "down"]
#: Ising engines of :func:`physjax.spins.sample_ising`: multi-spin coded, the reference
#: sampler, or the faster one for the lattice (``"auto"``).
IsingEngine = Literal["auto", "multispin", "reference"]
#: Lanes of a packed word: 32 replicas of one lattice site, or 32 sites of one replica
#: along the last lattice axis.
PackedLayout = Literal["replicas", "strips"]
#: Single-spin rules of the dense sampler: heat bath, Metropolis, or zero temperature
#: (align with the local field).
DenseRule = Literal["heat_bath", "metropolis", "zero_temperature"]
#: Site order of a dense sweep: sequential, or a random permutation per sweep.
SweepOrder = Literal["sequential", "random"]
#: Relaxation dynamics of :func:`physjax.spins.relax`: one spin at a time, or all at once.
RelaxDynamics = Literal["asynchronous", "synchronous"]
#: Error estimates of :func:`physjax.spins.observables.mean_and_error`: from the integrated
#: autocorrelation time, or from binning.
ErrorMethod = Literal["tau", "binning"]
#: Unit conventions: binary (0/1) or spin (+-1).
Units = Literal["binary", "spin"]
#: How :func:`physjax.spins.fit_boltzmann_machine` gets its correlations: exact
#: enumeration or Gibbs sampling.
CorrelationMethod = Literal["exact", "gibbs"]
#: Visible units: binary (0/1) or spin (±1).
VisibleUnits = Literal["binary", "spin"]
#: Hidden units: binary (0/1), spin (±1) or Gaussian (unit variance).
HiddenUnits = Literal["binary", "spin", "gaussian"]
#: Contrastive divergence (CD-k), persistent CD, or parallel-tempering PCD.
TrainingMethod = Literal["cd", "pcd", "pt"]
#: Initial fields: random, zero, or ordered (all up).
Phi4Start = Literal["random", "zero", "up"]
#: How :func:`physjax.spins.phi4_estimates` cuts the samples into jackknife blocks.
JackknifeBlocks = Literal["records", "chains"]

# ------------------------------------------------------------------ curvature (physjax.curvature)

#: Autodiff orders of the Hessian-vector product (forward-over-reverse first).
HVPMode = Literal["fwd-rev", "rev-rev", "rev-fwd"]
#: Probe vectors of the stochastic trace: Rademacher (+-1) or Gaussian.
Probe = Literal["rademacher", "gaussian"]
#: Which eigenvalues: the largest, the smallest, or the largest in magnitude.
Which = Literal["top", "bottom", "magnitude"]
#: Normalizations of a random direction (None: as drawn).
Normalization = Literal[None, "filter", "layer", "unit"]
#: What a direction does to biases: zero them, or keep them.
BiasRule = Literal["zero", "keep"]

# -------------------------------------------------------------------- dynamics (physjax.dynamics)

#: Integrators of :class:`physjax.dynamics.GradientFlow`: explicit Euler or Heun.
FlowMethod = Literal["euler", "heun"]
#: Losses: cross-entropy over classes, or mean squared error.
Loss = Literal["cross_entropy", "mse"]

# ------------------------------------------------------- generative diffusion (physjax.diffusion)

#: The backward processes: the reverse-time SDE and its probability-flow ODE.
Process = Literal["sde", "ode"]
#: Integrators of the backward process.
Integrator = Literal["euler_maruyama", "heun", "exponential"]
#: Spacings of the backward time grid (:func:`physjax.diffusion.time_grid`).
Spacing = Literal["log_snr", "geometric", "linear"]
#: How training times are drawn: uniform in t, or uniform in log t.
TimeSampling = Literal["uniform", "log"]
#: Learning-rate schedules of :func:`physjax.diffusion.train_score`.
Decay = Literal["constant", "cosine", "linear"]

# -------------------------------------------------------------- experiments (physjax.experiments)

#: Experiment sizes: quick (CPU minutes) or full.
RunSize = Literal["quick", "full"]
#: Networks of the experiments: a regular grid or a random geometric graph.
GraphKind = Literal["regular", "geometric"]

__all__ = [
    "SolverName", "SourceKind", "StrainMethod", "LearningRule", "Nudge", "UpdateRule",
    "IsingStart", "IsingEngine", "PackedLayout", "DenseRule", "SweepOrder", "RelaxDynamics",
    "ErrorMethod", "Units", "CorrelationMethod", "VisibleUnits", "HiddenUnits", "TrainingMethod",
    "Phi4Start", "JackknifeBlocks", "HVPMode", "Probe", "Which", "Normalization", "BiasRule",
    "FlowMethod", "Loss", "Process", "Integrator", "Spacing", "TimeSampling", "Decay", "RunSize",
    "GraphKind",
]
