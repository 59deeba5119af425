r"""Loss landscapes of trained FCNNs along random vs Hessian directions (seed 001, Fig. 12).

Fully connected ReLU networks with 2 and 10 hidden layers of 100 units are fitted (full
batch, Adam) to 50 equidistant points of :math:`f(x) = \log(\sin 10x + 2) + \sin x` on
:math:`[-1, 1)` (seed eq. 48; test set: the 50 midpoints).  Around the trained parameters
:math:`\theta^*` the mean-squared-error loss is drawn on two planes
:math:`L(\theta^* + \alpha\eta + \beta\delta)`, :math:`\alpha, \beta \in [-r, r]`, for the
training and the test data:

* random: :math:`\eta, \delta` Gaussian, filter-normalized by default (Li et al. 2018,
  biases zeroed; each neuron's weight row rescaled to the norm of the trained row) --
  ``random_normalization="unit"`` gives unit-norm directions instead;
* Hessian: :math:`\eta = v_{\max}, \delta = v_{\min}`, the unit eigenvectors of the largest
  and smallest eigenvalues of the training-loss Hessian (seed Algorithm 1 via
  :func:`physjax.curvature.landscape.hessian_directions`).

The Lanczos solver gets an ``n_steps = lanczos_steps`` Krylov basis per restart: the
smallest eigenvalue of a trained network sits at the edge of a dense cluster near zero,
where the default 20-vector basis stalls.  Crosses mark the smallest sampled loss of each
panel.  The last column follows the training and test loss (relative to
:math:`L(\theta^*)`) along :math:`\pm v_{\min}` out to ``line_radius``; the summary
reports the lowest training loss found along this negative-curvature direction and how much
lower it is than :math:`L(\theta^*)` and than the lowest loss of the random plane.  Eigen-
vectors have arbitrary sign, so the minimum may sit at :math:`+\beta` or :math:`-\beta`.
Float64 throughout (a scoped ``jax.enable_x64``): the negative eigenvalue is 1e-4 or less of the
largest, below float32's resolution of the Lanczos residuals.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from physjax._checks import check_choice, check_positive_int
from physjax.curvature.landscape import (
    hessian_directions,
    loss_line,
    loss_plane,
    plane_minimum,
    random_direction,
)
from physjax.curvature.losses import (
    fcnn,
    loss_of_parameters,
    mse_loss,
    train,
)
from physjax.datasets import function_approximation_data
from physjax.experiments import ExperimentResult, register


def _symmetric_grid(radius, n):
    """``n`` equidistant points on [-radius, radius] with an exact 0 when ``n`` is odd."""
    x = radius * np.linspace(-1.0, 1.0, n)
    x[np.abs(x) < 1e-12 * radius] = 0.0
    return jnp.asarray(x)


def _value_at(values, coords, a, b):
    j = int(np.argmin(np.abs(coords - a)))
    k = int(np.argmin(np.abs(coords - b)))
    return float(values[j, k])


@register(
    "fcnn-landscape",
    description="seed 001 Fig. 12: FCNN train/test loss along random vs Hessian directions",
    quick={"depths": (2, 10), "width": 100, "n_steps": 2000, "learning_rate": 1e-3,
           "grid": 21, "radius": 0.05, "line_radius": 0.2,
           "random_normalization": "filter", "lanczos_steps": 80},
    full={"depths": (2, 10), "width": 100, "n_steps": 5000, "learning_rate": 1e-3,
          "grid": 41, "radius": 0.05, "line_radius": 0.2,
          "random_normalization": "filter", "lanczos_steps": 80},
)
def fcnn_landscape(key, *, depths, width, n_steps, learning_rate, grid, radius, line_radius,
                   random_normalization, lanczos_steps, progress=None) -> ExperimentResult:
    depths = tuple(check_positive_int(d, "depths") for d in depths)
    width = check_positive_int(width, "width")
    n_steps = check_positive_int(n_steps, "n_steps")
    lanczos_steps = check_positive_int(lanczos_steps, "lanczos_steps", minimum=3)
    grid = check_positive_int(grid, "grid", minimum=3)
    check_choice(random_normalization, "random_normalization", ("filter", "layer", "unit"))
    for name, value in (("radius", radius), ("line_radius", line_radius),
                        ("learning_rate", learning_rate)):
        if not (np.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a positive number, got {value}")
    data, summary = {}, {}
    with jax.enable_x64(True):
        ds = function_approximation_data()
        coords = _symmetric_grid(radius, grid)
        line = _symmetric_grid(line_radius, 4 * grid + 1)
        c = np.asarray(coords)
        for i, depth in enumerate(depths):
            k_init, k_hess, k_rand = jax.random.split(jax.random.fold_in(key, i), 3)
            model = fcnn(k_init, depth, width)
            trained, history = train(model, mse_loss, (ds.x_train, ds.y_train),
                                     n_steps=n_steps, learning_rate=learning_rate)
            f_train, params = loss_of_parameters(mse_loss, trained, ds.x_train, ds.y_train)
            f_test, _ = loss_of_parameters(mse_loss, trained, ds.x_test, ds.y_test)
            hd = hessian_directions(k_hess, f_train, params, n_steps=lanczos_steps,
                                    max_restarts=100)
            k1, k2 = jax.random.split(k_rand)
            d1 = random_direction(k1, params, normalization=random_normalization)
            d2 = random_direction(k2, params, normalization=random_normalization)
            planes = {
                "random_train": loss_plane(f_train, params, d1, d2, coords, coords),
                "random_test": loss_plane(f_test, params, d1, d2, coords, coords),
                "hessian_train": loss_plane(f_train, params, hd.max_direction,
                                            hd.min_direction, coords, coords),
                "hessian_test": loss_plane(f_test, params, hd.max_direction,
                                           hd.min_direction, coords, coords),
            }
            line_train = loss_line(f_train, params, hd.min_direction, line)
            line_test = loss_line(f_test, params, hd.min_direction, line)
            l0_train, l0_test = float(f_train(params)), float(f_test(params))

            tag = f"fcnn{depth}"
            data[tag] = {
                "history": history, "alphas": coords, "line": line,
                "line_train": line_train, "line_test": line_test,
                "max_eigenvalue": hd.max_eigenvalue, "min_eigenvalue": hd.min_eigenvalue,
                **planes,
            }
            r_a, r_b, r_min = plane_minimum(planes["random_train"], c, c)
            h_a, h_b, h_min = plane_minimum(planes["hessian_train"], c, c)
            j = int(jnp.argmin(line_train))
            summary[f"{tag}_train_loss"] = l0_train
            summary[f"{tag}_test_loss"] = l0_test
            summary[f"{tag}_lambda_max"] = float(hd.max_eigenvalue)
            summary[f"{tag}_lambda_min"] = float(hd.min_eigenvalue)
            summary[f"{tag}_eigen_converged"] = bool(np.all(hd.result.converged))
            summary[f"{tag}_eigen_residual_min"] = float(hd.result.residuals[1])
            summary[f"{tag}_eigen_n_hvps"] = int(hd.result.n_matvecs)
            summary[f"{tag}_random_plane_min_train"] = r_min
            summary[f"{tag}_random_plane_min_at"] = f"({r_a:+.3g}, {r_b:+.3g})"
            summary[f"{tag}_hessian_plane_min_train"] = h_min
            summary[f"{tag}_hessian_plane_min_at"] = f"({h_a:+.3g}, {h_b:+.3g})"
            summary[f"{tag}_hessian_vs_random_train_%"] = 100.0 * (h_min - r_min) / r_min
            r_test = _value_at(planes["random_test"], c, r_a, r_b)
            h_test = _value_at(planes["hessian_test"], c, h_a, h_b)
            summary[f"{tag}_hessian_vs_random_test_%"] = 100.0 * (h_test - r_test) / r_test
            summary[f"{tag}_neg_curvature_line_min_train"] = float(line_train[j])
            summary[f"{tag}_neg_curvature_line_min_at"] = float(line[j])
            summary[f"{tag}_neg_curvature_line_gain_%"] = (
                100.0 * (l0_train - float(line_train[j])) / l0_train)
            summary[f"{tag}_neg_curvature_line_test_there"] = float(line_test[j])
            if progress is not None:
                progress(i + 1, len(depths))
    fig = _figure(data, depths, random_normalization)
    return ExperimentResult(data=data, figure=fig, summary=summary)


def _figure(data, depths, random_normalization):
    from physjax.plotting import new_figure, plot_loss_heatmap

    fig, axes = new_figure(len(depths), 5, panel_size=(3.3, 2.8), squeeze=False)
    titles = {"random_train": f"random ({random_normalization}), train",
              "random_test": f"random ({random_normalization}), test",
              "hessian_train": r"Hessian $(v_{\max}, v_{\min})$, train",
              "hessian_test": r"Hessian $(v_{\max}, v_{\min})$, test"}
    for row, depth in enumerate(depths):
        d = data[f"fcnn{depth}"]
        c = np.asarray(d["alphas"])
        for col, name in enumerate(titles):
            ax = axes[row, col]
            plot_loss_heatmap(ax, c, c, d[name], contours=8, label="MSE", log=True)
            ax.set_title(f"{depth}-layer FCNN: {titles[name]}", fontsize=8)
        ax = axes[row, 4]
        line = np.asarray(d["line"])
        center = int(np.argmin(np.abs(line)))
        lowest = 0.0
        for key, color, label in (("line_train", "k", "train"), ("line_test", "tab:blue",
                                                                  "test")):
            y = np.asarray(d[key])
            rel = 100.0 * (y / y[center] - 1.0)
            ax.plot(line, rel, color=color, lw=1.2, label=label)
            j = int(np.argmin(rel))
            ax.plot([line[j]], [rel[j]], "x", color=color, ms=8, mew=2)
            lowest = min(lowest, float(rel[j]))
        ax.axvline(0, color="grey", lw=0.8)
        ax.axhline(0, color="grey", lw=0.8)
        span = max(2.0 * abs(lowest), 0.5)
        ax.set_ylim(-span, 4 * span)
        ax.set_xlabel(r"$\beta$ along $v_{\min}$")
        ax.set_ylabel(r"MSE change vs $\theta^*$ (%)")
        ax.set_title(rf"$\lambda_{{\min}}$ = {float(d['min_eigenvalue']):.3g}, "
                     rf"$\lambda_{{\max}}$ = {float(d['max_eigenvalue']):.3g}", fontsize=8)
        ax.legend(fontsize=7)
    return fig
