"""The experiment registry and the ``physjax`` command line.

Experiments here are dummies registered by a fixture on an empty registry, so these tests
do not depend on (or run) the real experiments.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from physjax import cli, experiments
from physjax.experiments import ExperimentResult

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def registry(monkeypatch):
    """An empty, already-discovered registry holding two dummy experiments."""
    monkeypatch.setattr(experiments, "_REGISTRY", {})
    monkeypatch.setattr(experiments, "_discovered", True)

    @experiments.register(
        "dummy",
        description="Gaussian samples with a histogram",
        quick={"n": 8, "scale": 1.0, "label": "a", "flag": False, "temps": (1.0, 2.0)},
        full={"n": 64, "scale": 1.0, "label": "a", "flag": False, "temps": (1.0, 2.0, 3.0)},
    )
    def dummy(key, *, n, scale, label, flag, temps, progress=None):
        from physjax.plotting import new_figure

        x = scale * jax.random.normal(key, (n,))
        if progress is not None:
            for i in range(n):
                progress(i + 1, n)
        fig, ax = new_figure()
        ax.hist(np.asarray(x))
        return ExperimentResult(
            data={"x": x, "temps": jnp.asarray(temps), "label": label},
            figure=fig,
            summary={"mean": jnp.mean(x), "n": n, "flag": flag, "label": label},
        )

    @experiments.register(
        "nofig", description="no figure and no progress callback", quick={"k": 2}, full={"k": 3}
    )
    def nofig(key, *, k):
        return ExperimentResult(data={"k": k, "bad": float("nan")}, summary={"k squared": k * k})

    return experiments


def _read_json(path):
    with open(path) as f:
        return json.load(f)


# --------------------------------------------------------------------------- registry API


def test_names_get_and_params(registry):
    assert registry.names() == ["dummy", "nofig"]
    exp = registry.get("dummy")
    assert exp.description == "Gaussian samples with a histogram"
    assert exp.params("quick")["n"] == 8 and exp.params("full")["n"] == 64
    assert exp.accepts_progress and not registry.get("nofig").accepts_progress
    with pytest.raises(ValueError, match="size must be one of"):
        exp.params("huge")


def test_get_unknown_names_the_registered_ones(registry):
    with pytest.raises(ValueError, match=r"unknown experiment 'dumy'.*dummy, nofig.*'dummy'\?"):
        registry.get("dumy")


def test_run_experiment_merges_overrides_and_saves(registry, tmp_path):
    result = registry.run_experiment(
        "dummy", "quick", {"n": "5", "scale": 0.0}, key=jax.random.key(1), out_dir=tmp_path
    )
    assert result.data["x"].shape == (5,)
    np.testing.assert_array_equal(result.data["x"], 0.0)  # scale=0 makes every sample zero
    assert (tmp_path / "dummy.png").read_bytes().startswith(PNG_MAGIC)
    record = _read_json(tmp_path / "dummy.json")
    assert record["name"] == "dummy" and record["size"] == "quick"
    # the Python API's JSON carries the same provenance as the CLI's
    assert record["environment"]["jax"] == jax.__version__
    assert record["environment"]["backend"] == jax.default_backend()
    assert record["params"] == {
        "n": 5,
        "scale": 0.0,
        "label": "a",
        "flag": False,
        "temps": [1.0, 2.0],
    }
    assert record["data"]["x"] == [0.0] * 5
    assert record["summary"]["n"] == 5 and record["seconds"] >= 0


def test_run_experiment_full_size_and_key(registry):
    a = registry.run_experiment("dummy", "full", key=jax.random.key(3))
    b = registry.run_experiment("dummy", "full", key=jax.random.key(3))
    c = registry.run_experiment("dummy", "full", key=jax.random.key(4))
    assert a.data["x"].shape == (64,)
    np.testing.assert_array_equal(a.data["x"], b.data["x"])
    assert not np.array_equal(a.data["x"], c.data["x"])
    assert a.figure is not None


def test_progress_callback_is_passed_only_to_experiments_that_take_it(registry):
    calls = []
    registry.run_experiment("dummy", overrides={"n": 3}, progress=lambda d, t: calls.append((d, t)))
    assert calls == [(1, 3), (2, 3), (3, 3)]
    registry.run_experiment("nofig", progress=lambda d, t: calls.append((d, t)))  # no TypeError


@pytest.mark.parametrize(
    "raw, expected",
    [
        ({"n": "12"}, {"n": 12}),
        ({"n": "1e2"}, {"n": 100}),
        ({"n": 7.0}, {"n": 7}),
        ({"scale": "2.5"}, {"scale": 2.5}),
        ({"scale": 3}, {"scale": 3.0}),
        ({"flag": "yes"}, {"flag": True}),
        ({"flag": "False"}, {"flag": False}),
        ({"label": "hello world"}, {"label": "hello world"}),
        ({"temps": "0.5, 1.5,2"}, {"temps": (0.5, 1.5, 2.0)}),
        ({"temps": "[3, 4]"}, {"temps": (3.0, 4.0)}),
    ],
)
def test_overrides_are_cast_to_the_type_of_the_default(registry, raw, expected):
    params = registry.resolve_params("dummy", "quick", raw)
    for key, value in expected.items():
        assert params[key] == value
        assert type(params[key]) is type(value)


@pytest.mark.parametrize(
    "raw, message",
    [
        (
            {"nn": "3"},
            r"unknown parameter 'nn' for experiment 'dummy'; "
            r"valid parameters: n, scale, label, flag, temps",
        ),
        ({"n": "2.5"}, r"parameter 'n' of experiment 'dummy' expects an int.*'2.5'"),
        ({"n": "ten"}, r"parameter 'n' .* expects an int"),
        ({"n": True}, r"parameter 'n' .* expects an int"),
        ({"scale": "big"}, r"parameter 'scale' .* expects a float"),
        ({"flag": "maybe"}, r"parameter 'flag' .* expects a bool"),
        ({"temps": "1.0,hot"}, r"parameter 'temps' .* expects a float"),
    ],
)
def test_bad_overrides_raise_value_error(registry, raw, message):
    with pytest.raises(ValueError, match=message):
        registry.resolve_params("dummy", "quick", raw)


def test_parse_assignments():
    assert experiments.parse_assignments(["a=1", " b = x=y ", "a=2"]) == {"a": "2", "b": "x=y"}
    with pytest.raises(ValueError, match="--set expects key=value, got 'a'"):
        experiments.parse_assignments(["a"])
    with pytest.raises(ValueError, match="--set expects key=value"):
        experiments.parse_assignments(["=3"])


def test_register_validates(registry):
    with pytest.raises(ValueError, match="same parameter names.*only in full: \\['m'\\]"):
        registry.register("x", description="d", quick={"n": 1}, full={"n": 2, "m": 3})
    with pytest.raises(ValueError, match="'progress' is reserved"):
        registry.register("x", description="d", quick={"progress": 1}, full={"progress": 1})
    with pytest.raises(ValueError, match="description"):
        registry.register("x", description=" ", quick={}, full={})
    with pytest.raises(ValueError, match="experiment name"):
        registry.register("a/b", description="d", quick={}, full={})

    def other(key):
        return ExperimentResult(data={})

    with pytest.raises(ValueError, match="'dummy' is already registered"):
        registry.register("dummy", description="d", quick={}, full={})(other)


def test_experiment_must_return_a_flat_result(registry):
    @registry.register("tuple", description="returns a tuple", quick={}, full={})
    def returns_tuple(key):
        return {}, None, {}

    @registry.register("nested", description="nested summary", quick={}, full={})
    def nested(key):
        return ExperimentResult(data={}, summary={"m": jnp.ones(3)})

    with pytest.raises(TypeError, match="returned tuple; expected ExperimentResult"):
        registry.run_experiment("tuple")
    with pytest.raises(TypeError, match=r"summary\['m'\] must be a scalar"):
        registry.run_experiment("nested")


def test_modules_are_discovered_lazily(monkeypatch, tmp_path):
    (tmp_path / "fake_exp.py").write_text(
        textwrap.dedent(
            """
            from physjax.experiments import ExperimentResult, register

            @register("fake", description="found by discovery", quick={"a": 1}, full={"a": 2})
            def fake(key, *, a):
                return ExperimentResult(data={"a": a})
            """
        )
    )
    (tmp_path / "_private.py").write_text("raise RuntimeError('must not be imported')\n")
    monkeypatch.setattr(experiments, "_REGISTRY", {})
    monkeypatch.setattr(experiments, "_discovered", False)
    monkeypatch.setattr(experiments, "__path__", [str(tmp_path)])
    monkeypatch.delitem(sys.modules, "physjax.experiments.fake_exp", raising=False)
    try:
        assert experiments.names() == ["fake"]
        assert experiments.run_experiment("fake", "full").data == {"a": 2}
    finally:
        sys.modules.pop("physjax.experiments.fake_exp", None)


def test_to_jsonable():
    out = experiments.to_jsonable(
        {"a": jnp.arange(3), "b": np.float32(1.5), "c": (1, float("inf")), 2: np.array([np.nan])}
    )
    assert out == {"a": [0, 1, 2], "b": 1.5, "c": [1, None], "2": [None]}
    json.dumps(out, allow_nan=False)
    with pytest.raises(TypeError, match="cannot convert object"):
        experiments.to_jsonable(object())


# --------------------------------------------------------------------------- CLI in-process


def test_info(capsys):
    assert cli.main(["info"]) == 0
    out = capsys.readouterr().out
    x64 = "on" if jax.config.read("jax_enable_x64") else "off"
    assert f"jax:          {jax.__version__}" in out
    assert f"backend:      {jax.default_backend()}" in out
    assert f"device count: {jax.device_count()}" in out
    assert f"x64:          {x64}" in out
    assert "physjax:      " in out and "devices:" in out


def test_list(registry, capsys):
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    assert "dummy  Gaussian samples with a histogram" in out
    assert "nofig  no figure and no progress callback" in out
    assert cli.main(["list", "-v"]) == 0
    out = capsys.readouterr().out
    assert "quick: n=8, scale=1.0" in out and "full: n=64" in out


def test_run_writes_outputs_and_prints_summary(registry, tmp_path, capsys):
    args = ["run", "dummy", "--out", str(tmp_path), "--seed", "5"]
    args += ["--set", "n=6", "flag=true", "--set", "temps=0.1,0.2"]
    assert cli.main(args) == 0
    out = capsys.readouterr().out
    assert "dummy:" in out and "mean" in out and "time (s)" in out
    record = _read_json(tmp_path / "dummy.json")
    assert record["seed"] == 5 and record["size"] == "quick"
    assert record["params"]["n"] == 6 and record["params"]["flag"] is True
    assert record["params"]["temps"] == [0.1, 0.2]
    assert len(record["data"]["x"]) == 6
    expected = 1.0 * jax.random.normal(jax.random.key(5), (6,))
    np.testing.assert_allclose(record["data"]["x"], expected, rtol=1e-6)
    assert (tmp_path / "dummy.png").read_bytes().startswith(PNG_MAGIC)


def test_run_defaults_to_physjax_out(registry, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["run", "nofig", "--size", "full"]) == 0
    record = _read_json(tmp_path / "physjax-out" / "nofig.json")
    assert record["params"] == {"k": 3} and record["data"]["bad"] is None
    assert not (tmp_path / "physjax-out" / "nofig.png").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["run", "nope"], "unknown experiment 'nope'; registered experiments: dummy, nofig"),
        (["run", "dummy", "--set", "bogus=1"], "unknown parameter 'bogus' for experiment 'dummy'"),
        (["run", "dummy", "--set", "n=many"], "parameter 'n' of experiment 'dummy' expects an int"),
        (["run", "dummy", "--set", "n"], "--set expects key=value, got 'n'"),
    ],
)
def test_run_user_errors_exit_2_with_one_line(registry, tmp_path, capsys, args, message):
    assert cli.main([*args, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("physjax: error: ") and message in err
    assert "Traceback" not in err
    assert not any(tmp_path.iterdir())


def test_argparse_errors_and_help_return_codes(capsys):
    assert cli.main(["run", "dummy", "--size", "huge"]) == 2
    assert "invalid choice: 'huge'" in capsys.readouterr().err
    assert cli.main([]) == 2
    assert cli.main(["--help"]) == 0
    assert "demo" in capsys.readouterr().out


def test_run_failing_experiment_exits_1(registry, tmp_path, capsys):
    @registry.register("broken", description="raises", quick={"L": -1}, full={"L": -1})
    def broken(key, *, L):
        raise ValueError(f"L must be positive, got {L}")

    assert cli.main(["run", "broken", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "experiment 'broken' failed: ValueError: L must be positive, got -1" in err


def test_demo_writes_figures_results_and_summary(registry, tmp_path, capsys):
    assert cli.main(["demo", "--out", str(tmp_path), "--seed", "2"]) == 0
    assert "summary.md" in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dummy.png", "results.json", "summary.md"]
    assert (tmp_path / "dummy.png").read_bytes().startswith(PNG_MAGIC)

    results = _read_json(tmp_path / "results.json")
    assert results["size"] == "quick" and results["seed"] == 2
    assert results["environment"]["jax"] == jax.__version__
    assert set(results["experiments"]) == {"dummy", "nofig"}
    dummy = results["experiments"]["dummy"]
    assert dummy["figure"] == "dummy.png" and dummy["error"] is None
    assert dummy["params"]["n"] == 8 and len(dummy["data"]["x"]) == 8
    np.testing.assert_allclose(dummy["summary"]["mean"], np.mean(dummy["data"]["x"]), rtol=1e-5)
    assert dummy["seconds"] >= 0
    nofig = results["experiments"]["nofig"]
    assert nofig["figure"] is None and nofig["summary"] == {"k squared": 4}

    md = (tmp_path / "summary.md").read_text()
    assert "| experiment | quantity | value |" in md
    assert "| nofig | k squared | 4 |" in md
    assert "| dummy | n | 8 |" in md and "| dummy | flag | False |" in md
    assert md.count("| dummy | time (s) |") == 1
    assert "![dummy](dummy.png)" in md


def test_demo_default_out_and_partial_failure(registry, tmp_path, monkeypatch, capsys):
    @registry.register("crash", description="crashes", quick={}, full={})
    def crash(key):
        raise RuntimeError("boom")

    monkeypatch.chdir(tmp_path)
    assert cli.main(["demo"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "experiment 'crash' failed: RuntimeError: boom" in err
    assert "1 of 3 experiment(s) failed: crash" in err
    results = _read_json(tmp_path / "physjax-out" / "results.json")
    assert results["experiments"]["crash"]["error"] == "RuntimeError: boom"
    assert results["experiments"]["dummy"]["error"] is None
    assert (
        "| crash | error | RuntimeError: boom |"
        in (tmp_path / "physjax-out" / "summary.md").read_text()
    )


def test_demo_with_no_experiments(monkeypatch, capsys):
    monkeypatch.setattr(experiments, "_REGISTRY", {})
    monkeypatch.setattr(experiments, "_discovered", True)
    assert cli.main(["demo"]) == 2
    assert "no experiments are registered" in capsys.readouterr().err


def test_bench_passes_arguments_through(monkeypatch, tmp_path, capfd):
    script = tmp_path / "run.py"
    script.write_text("import sys\nprint('bench args', sys.argv[1:])\nsys.exit(3)\n")
    monkeypatch.setattr(cli, "_find_bench_script", lambda: script)
    assert cli.main(["bench", "--quick", "--only", "ising"]) == 3
    assert "bench args ['--quick', '--only', 'ising']" in capfd.readouterr().out

    monkeypatch.setattr(cli, "_find_bench_script", lambda: None)
    assert cli.main(["bench"]) == 2
    assert "benchmarks/run.py not found" in capfd.readouterr().err


# --------------------------------------------------------------------------- provenance, files


def _assert_environment(env):
    assert env["jax"] == jax.__version__ and env["jaxlib"]
    assert env["backend"] == jax.default_backend()
    assert env["device_count"] == jax.device_count() and len(env["devices"]) == len(jax.devices())
    assert env["physjax"] and env["python"] and isinstance(env["x64"], bool)
    if os.path.exists(os.path.join(os.path.dirname(os.path.dirname(cli.__file__)), ".git")):
        assert len(env["git"]["commit"]) == 40 and env["git"]["dirty"] in (True, False)


def test_every_json_carries_versions_backend_devices_and_commit(registry, tmp_path):
    assert cli.main(["run", "nofig", "--out", str(tmp_path)]) == 0
    _assert_environment(_read_json(tmp_path / "nofig.json")["environment"])
    assert cli.main(["demo", "--out", str(tmp_path / "demo")]) == 0
    _assert_environment(_read_json(tmp_path / "demo" / "results.json")["environment"])


def test_git_info_is_best_effort(monkeypatch):
    from physjax import _provenance

    monkeypatch.setenv("PATH", "")  # no git to be found
    assert _provenance.git_info() is None
    assert _provenance.environment()["git"] is None


@pytest.mark.parametrize("umask", [0o022, 0o002])
def test_outputs_follow_the_umask(registry, tmp_path, umask):
    old = os.umask(umask)
    try:
        assert cli.main(["run", "dummy", "--out", str(tmp_path / "run")]) == 0
        assert cli.main(["demo", "--out", str(tmp_path / "demo")]) == 0
    finally:
        os.umask(old)
    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert files == ["demo/dummy.png", "demo/results.json", "demo/summary.md",
                     "run/dummy.json", "run/dummy.png"]
    for name in files:
        mode = (tmp_path / name).stat().st_mode & 0o777
        assert mode == 0o666 & ~umask, f"{name}: {oct(mode)}"


# --------------------------------------------------------------------------- subprocesses


def _clean_env():
    env = dict(os.environ)
    for var in ("JAX_ENABLE_X64", "JAX_PLATFORMS", "MPLBACKEND"):
        env.pop(var, None)
    env["JAX_PLATFORMS"] = "cpu"
    return env


def test_python_m_physjax_info():
    proc = subprocess.run(
        [sys.executable, "-m", "physjax", "info"],
        capture_output=True,
        text=True,
        env=_clean_env(),
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert f"jax:          {jax.__version__}" in proc.stdout
    assert "x64:          off" in proc.stdout


def test_import_physjax_is_quiet_and_changes_nothing():
    code = textwrap.dedent(
        """
        import sys
        import physjax
        import jax
        assert "matplotlib" not in sys.modules, "import physjax imported matplotlib"
        bad = sorted(m for m in sys.modules if m.startswith("physjax.experiments"))
        assert not bad, f"import physjax imported {bad}"
        assert "physjax.plotting" not in sys.modules, "import physjax imported physjax.plotting"
        assert not jax.config.read("jax_enable_x64"), "import physjax turned on x64"
        assert isinstance(physjax.__version__, str)
        """
    )
    env = _clean_env()
    env.pop("JAX_PLATFORMS")
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "", f"import physjax printed {proc.stdout!r}"
    assert proc.stderr == "", f"import physjax wrote to stderr: {proc.stderr!r}"
