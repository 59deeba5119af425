"""Tests of physjax.ensemble: sweeps over grid x replicas, sharding, checkpoint/resume."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from physjax.ensemble import ProductGrid, SweepResult, product_grid, sweep, unflatten_grid

ROOT = Path(__file__).resolve().parents[1]
WORKER_PATH = Path(__file__).with_name("_ensemble_worker.py")


def _load_worker():
    spec = importlib.util.spec_from_file_location("_ensemble_worker", WORKER_PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


worker = _load_worker()
CPU = jax.devices("cpu")


@pytest.fixture(autouse=True, scope="module")
def _on_cpu():
    """Direct evaluations run on the CPU like the sweeps (bitwise comparisons; GPU hosts)."""
    with jax.default_device(CPU[0]):
        yield


def _subprocess_env(n_devices: int | None = None) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    env["JAX_PLATFORMS"] = "cpu"
    flags = env.get("XLA_FLAGS", "").split()
    flags = [f for f in flags if not f.startswith("--xla_force_host_platform_device_count")]
    if n_devices is not None:
        flags.append(f"--xla_force_host_platform_device_count={n_devices}")
    env["XLA_FLAGS"] = " ".join(flags)
    return env


def assert_trees_identical(a, b):
    """Same structure, shapes, dtypes and bytes (bit-identical, NaN-safe)."""
    la, ta = jax.tree.flatten(a)
    lb, tb = jax.tree.flatten(b)
    assert ta == tb
    for x, y in zip(la, lb, strict=True):
        x, y = np.asarray(x), np.asarray(y)
        assert x.dtype == y.dtype and x.shape == y.shape
        assert x.tobytes() == y.tobytes()


@pytest.fixture(scope="module")
def reference():
    """The worker's sweep, uninterrupted, in one chunk, on this process's default devices."""
    return worker.run()


# ----------------------------------------------------------------------------- results


def test_shapes_dtypes_and_bookkeeping(reference):
    G, R = 6, worker.N_REPLICAS
    v = reference.values
    assert isinstance(reference, SweepResult)
    assert v["energy"].shape == (G, R) and v["energy"].dtype == np.float32
    assert v["trace"].shape == (G, R, 10)
    assert v["spins"].shape == (G, R, 16) and v["spins"].dtype == np.int8
    assert v["n_up"].dtype == np.int32
    assert v["low_precision"].dtype == jnp.bfloat16 and v["flag"].dtype == np.bool_
    assert all(isinstance(x, np.ndarray) for x in jax.tree.leaves(v))
    assert reference.n_replicas == R and reference.chunk_size == G * R
    assert reference.chunks_loaded == () and reference.chunks_computed == (0,)
    np.testing.assert_array_equal(reference.grid["temperature"], np.linspace(0.5, 3.0, 6,
                                                                             dtype=np.float32))
    # replicas really are different samples
    assert len(np.unique(v["energy"])) == G * R


@pytest.mark.parametrize("g, r", [(0, 0), (3, 5), (5, 7)])
def test_replica_keys_are_fold_in_of_grid_and_replica_index(reference, g, r):
    key = jax.random.fold_in(jax.random.fold_in(worker.key(), g), r)
    params = jax.tree.map(lambda a: a[g], worker.grid())
    direct = jax.jit(worker.replica_observables)(key, params)
    assert_trees_identical(jax.tree.map(lambda x: x[g, r], reference.values), direct)


def test_legacy_uint32_key_is_fold_in_too():
    fn = lambda key, p: jax.random.uniform(key, (3,)) * p
    result = sweep(fn, jax.random.PRNGKey(7), jnp.array([1.0, 2.0]), 3, progress=False,
                   devices=CPU)
    key = jax.random.fold_in(jax.random.fold_in(jax.random.PRNGKey(7), 1), 2)
    np.testing.assert_array_equal(result.values[1, 2], jax.jit(fn)(key, jnp.float32(2.0)))


@pytest.mark.parametrize("chunk_size", [5, 13, 1000])
def test_chunk_size_does_not_change_results(reference, chunk_size):
    result = worker.run(chunk_size=chunk_size)
    n_chunks = -(-48 // min(chunk_size, 48))
    assert result.chunks_computed == tuple(range(n_chunks))
    assert_trees_identical(result.values, reference.values)


def test_progress_bar_and_on_chunk(capsys):
    seen = []
    result = sweep(lambda k, p: p * jax.random.normal(k), jax.random.key(0),
                   jnp.arange(3.0), 2, chunk_size=4, progress=True, devices=CPU,
                   on_chunk=lambda c, loaded: seen.append((c, loaded)))
    assert seen == [(0, False), (1, False)]
    assert result.values.shape == (3, 2)
    assert "2/2" in capsys.readouterr().err


def test_product_grid_and_unflatten():
    pg = product_grid(temperature=[1.0, 2.0], field=[0.0, 0.1, 0.2])
    assert isinstance(pg, ProductGrid) and pg.shape == (2, 3)
    np.testing.assert_array_equal(pg.points["temperature"], [1, 1, 1, 2, 2, 2])
    np.testing.assert_array_equal(pg.points["field"], [0.0, 0.1, 0.2] * 2)
    fn = lambda key, p: {"tf": jnp.stack([p["temperature"], p["field"]]),
                         "u": jax.random.uniform(key)}
    result = sweep(fn, jax.random.key(1), pg, 4, progress=False, devices=CPU)
    assert result.values["tf"].shape == (6, 4, 2)
    values = unflatten_grid(result.values, pg.shape)
    axes = unflatten_grid(result.grid, pg.shape)
    assert values["tf"].shape == (2, 3, 4, 2) and values["u"].shape == (2, 3, 4)
    np.testing.assert_allclose(values["tf"][1, 2, 3], [2.0, 0.2], rtol=1e-6)
    np.testing.assert_allclose(axes["field"][0], [0.0, 0.1, 0.2], rtol=1e-6)
    with pytest.raises(ValueError, match="shape"):
        unflatten_grid(result.values, (4, 2))


# ----------------------------------------------------------------------------- devices


def test_one_three_and_four_devices_give_identical_results(reference, tmp_path):
    out = tmp_path / "devices.npz"
    proc = subprocess.run(
        [sys.executable, str(WORKER_PATH), "devices", str(out)], cwd=ROOT,
        env=_subprocess_env(4), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    expected = [np.ascontiguousarray(x).view(np.uint8)
                for x in jax.tree.leaves(reference.values)]
    with np.load(out) as data:
        assert int(data["device_count"]) == 4
        names = {k.split("/")[0] for k in data.files if "/" in k}
        assert names == {"dev4_chunk5", "dev3_chunk5", "dev1_chunk5", "dev4_chunk13",
                         "dev4_whole"}
        for name in sorted(names):  # each chunk really was sharded over that many devices
            n_dev = 4 if name.startswith("dev4") else int(name[3])
            assert data[f"{name}/devices_used"].tolist() == [n_dev]
            for i, x in enumerate(expected):
                np.testing.assert_array_equal(data[f"{name}/{i}"], x, err_msg=f"{name} {i}")


# ----------------------------------------------------------------------------- checkpoints


def _read_lines_until(proc, n_computed: int, timeout: float) -> list[str]:
    """Read the worker's stdout until it reported n_computed computed chunks."""
    buf, deadline = b"", time.monotonic() + timeout
    fd = proc.stdout.fileno()
    while buf.count(b"computed") < n_computed:
        left = deadline - time.monotonic()
        if left <= 0 or proc.poll() is not None:
            break
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            buf += chunk
    return buf.decode().split()


def test_sigkill_then_resume_is_bit_identical_and_skips_finished_chunks(reference, tmp_path):
    out_dir = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, str(WORKER_PATH), "kill", str(out_dir)], cwd=ROOT,
        env=_subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0)
    try:
        words = _read_lines_until(proc, worker.KILL_AFTER, timeout=90)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    stderr = proc.stderr.read().decode()
    proc.stdout.close()
    proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL, stderr[-3000:]
    assert "finished" not in words
    finished = list(range(worker.KILL_AFTER))
    assert words == [w for c in finished for w in ("computed", str(c))], stderr[-3000:]

    on_disk = sorted(p.name for p in out_dir.glob("chunk-*.npz"))
    assert on_disk == [f"chunk-{c:06d}.npz" for c in finished]
    stats = {n: (out_dir / n).stat() for n in on_disk}
    (out_dir / ".physjax-tmp-stale").write_bytes(b"half a chunk")  # a write cut short

    seen = []
    with pytest.warns(UserWarning, match="taking over the stale lock"):  # the killed run's
        resumed = worker.run(chunk_size=worker.CHUNK_SIZE, out_dir=out_dir,
                             on_chunk=lambda c, loaded: seen.append((c, loaded)))
    assert resumed.chunks_loaded == tuple(finished)
    assert resumed.chunks_computed == tuple(range(worker.KILL_AFTER, 10))
    assert seen == [(c, True) for c in finished] + [(c, False) for c in range(3, 10)]
    assert_trees_identical(resumed.values, reference.values)
    for n, st in stats.items():  # finished chunks were neither recomputed nor rewritten
        after = (out_dir / n).stat()
        assert (after.st_ino, after.st_mtime_ns) == (st.st_ino, st.st_mtime_ns)
    assert not (out_dir / ".physjax-tmp-stale").exists()
    assert len(list(out_dir.glob("chunk-*.npz"))) == 10

    again = worker.run(chunk_size=worker.CHUNK_SIZE, out_dir=out_dir)
    assert again.chunks_loaded == tuple(range(10)) and again.chunks_computed == ()
    assert_trees_identical(again.values, reference.values)


def test_manifest_records_the_sweep(tmp_path):
    worker.run(chunk_size=24, out_dir=tmp_path, tag={"L": 16})
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["function"] == "replica_observables"
    assert manifest["n_replicas"] == 8 and manifest["chunk_size"] == 24
    assert manifest["n_chunks"] == 2 and manifest["tag"] == {"L": 16}
    assert manifest["key"]["data"] == np.asarray(jax.random.key_data(worker.key())).tolist()
    assert len(manifest["grid"]["fingerprint"]) == 64
    dtypes = [leaf["dtype"] for leaf in manifest["result"]["leaves"]]
    assert "bfloat16" in dtypes and "int8" in dtypes and "bool" in dtypes
    assert manifest["environment"]["jax"] == jax.__version__
    assert manifest["environment"]["backend"] == jax.default_backend()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "chunk-000000.npz", "chunk-000000.npz.sha256", "chunk-000001.npz",
        "chunk-000001.npz.sha256", "manifest.json"]  # and no sweep.lock left behind


@pytest.fixture
def finished_run(tmp_path):
    worker.run(chunk_size=24, out_dir=tmp_path, tag="run-a")
    return tmp_path


def _other_grid():
    g = worker.grid()
    g["temperature"] = g["temperature"].at[2].add(1e-3)
    return g


@pytest.mark.parametrize("change, message", [
    (dict(grid=_other_grid()), "grid values differ"),
    (dict(grid={"temperature": jnp.linspace(0.5, 3.0, 7),
                "field": jnp.arange(7, dtype=jnp.int32)}), "leaf 0 is int32[6] there but int32[7]"),
    (dict(grid={"temperature": np.linspace(0.5, 3.0, 6).astype(np.float16),
                "field": jnp.arange(6, dtype=jnp.int32) - 2}), "float32[6] there but float16[6]"),
    (dict(grid={**worker.grid(), "coupling": jnp.ones(6)}), "grid structure is"),
    (dict(n_replicas=4), "n_replicas is 8 there but 4 here"),
    (dict(key=jax.random.key(1)), "key is"),
    (dict(chunk_size=12), "chunk_size is 24 there but 12 here"),
    (dict(tag="run-b"), "tag is"),
    (dict(fn=lambda key, params: worker.replica_observables(key, params)), "function"),
])
def test_mismatching_manifest_is_refused(finished_run, change, message):
    args = dict(fn=worker.replica_observables, key=worker.key(), grid=worker.grid(),
                n_replicas=worker.N_REPLICAS, chunk_size=24, tag="run-a")
    args.update(change)
    before = {p.name: p.stat().st_mtime_ns for p in finished_run.iterdir()}
    with pytest.raises(ValueError, match="out_dir") as err:
        sweep(args.pop("fn"), args.pop("key"), args.pop("grid"), args.pop("n_replicas"),
              out_dir=finished_run, progress=False, devices=CPU, **args)
    assert message in str(err.value)
    assert {p.name: p.stat().st_mtime_ns for p in finished_run.iterdir()} == before


def test_changed_output_structure_is_refused(finished_run):
    def replica_observables(key, params):  # same name, different outputs
        return {"energy": jnp.float32(0.0)}

    with pytest.raises(ValueError, match="out_dir.*result of fn structure"):
        sweep(replica_observables, worker.key(), worker.grid(), worker.N_REPLICAS,
              chunk_size=24, tag="run-a", out_dir=finished_run, progress=False, devices=CPU)


def test_chunks_without_manifest_or_bad_manifest_are_refused(finished_run):
    (finished_run / "manifest.json").write_text("{not json")
    with pytest.raises(ValueError, match="out_dir"):
        worker.run(chunk_size=24, out_dir=finished_run, tag="run-a")
    (finished_run / "manifest.json").unlink()
    with pytest.raises(ValueError, match="out_dir.*no manifest"):
        worker.run(chunk_size=24, out_dir=finished_run, tag="run-a")


def test_out_dir_that_is_a_file_is_refused(tmp_path):
    path = tmp_path / "file"
    path.write_text("x")
    with pytest.raises(ValueError, match="out_dir"):
        worker.run(out_dir=path)


# ----------------------------------------------------------------------------- damaged chunks


def _zeros(path):
    """Replace a chunk by a valid .npz of the same leaves, shapes and dtypes, all zeros."""
    with np.load(path) as data:
        arrays = {k: np.zeros_like(data[k]) for k in data.files}
    np.savez(path, **arrays)


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _flip_bit(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x10
    path.write_bytes(bytes(data))


def _drop_checksum(path):
    Path(f"{path}.sha256").unlink()


@pytest.mark.parametrize("damage, reason", [
    (_zeros, "does not match its checksum"),
    (_truncate, "cannot be used"),
    (_flip_bit, "(cannot be used|does not match its checksum)"),
    (_drop_checksum, "has no checksum file"),
])
def test_damaged_chunk_is_recomputed_with_a_warning(reference, finished_run, damage, reason):
    path = finished_run / "chunk-000001.npz"
    damage(path)
    with pytest.warns(UserWarning, match=f"{re.escape(path.name)}.* {reason}.*recomputing"):
        resumed = worker.run(chunk_size=24, out_dir=finished_run, tag="run-a")
    assert resumed.chunks_loaded == (0,) and resumed.chunks_computed == (1,)
    assert_trees_identical(resumed.values, reference.values)
    with warnings.catch_warnings():  # repaired: loaded and verified without a word
        warnings.simplefilter("error")
        again = worker.run(chunk_size=24, out_dir=finished_run, tag="run-a")
    assert again.chunks_loaded == (0, 1) and again.chunks_computed == ()
    assert_trees_identical(again.values, reference.values)


# ----------------------------------------------------------------------------- files


def _tiny_sweep(out_dir, **kwargs):
    return sweep(_fn, jax.random.key(0), {"t": np.arange(1.0, 4.0)}, 2, chunk_size=4,
                 out_dir=out_dir, progress=False, devices=CPU, **kwargs)


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_files_follow_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        _tiny_sweep(tmp_path / "run")
    finally:
        os.umask(old)
    names = sorted(p.name for p in (tmp_path / "run").iterdir())
    assert names == ["chunk-000000.npz", "chunk-000000.npz.sha256", "chunk-000001.npz",
                     "chunk-000001.npz.sha256", "manifest.json"]
    for name in names:
        mode = (tmp_path / "run" / name).stat().st_mode & 0o777
        assert mode == 0o666 & ~umask, f"{name}: {oct(mode)}"


def test_a_second_writer_of_the_same_out_dir_is_refused(tmp_path):
    out_dir = tmp_path / "run"
    lock = out_dir / "sweep.lock"
    seen = []

    def on_chunk(c, loaded):
        holder = json.loads(lock.read_text())
        assert holder["pid"] == os.getpid() and holder["host"] == socket.gethostname()
        with pytest.raises(RuntimeError, match=f"out_dir {re.escape(repr(str(out_dir)))} is "
                                               "in use: process .* on this host"):
            _tiny_sweep(out_dir)
        seen.append(c)

    _tiny_sweep(out_dir, on_chunk=on_chunk)
    assert seen == [0, 1] and not lock.exists()  # released at the end


def _write_lock(out_dir, pid, host):
    out_dir.mkdir()
    (out_dir / "sweep.lock").write_text(json.dumps(
        {"pid": pid, "host": host, "created": "2024-01-01T00:00:00", "token": "x"}))


@pytest.mark.skipif(os.name != "posix", reason="pid liveness check is POSIX only")
def test_a_stale_lock_is_taken_over(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait(timeout=60)  # reaped: its pid is free
    _write_lock(tmp_path / "run", proc.pid, socket.gethostname())
    with pytest.warns(UserWarning, match="taking over the stale lock"):
        result = _tiny_sweep(tmp_path / "run")
    assert result.chunks_computed == (0, 1)
    assert not (tmp_path / "run" / "sweep.lock").exists()


def test_a_lock_of_another_host_is_not_taken_over(tmp_path):
    _write_lock(tmp_path / "run", 1, "another-host.example")
    with pytest.raises(RuntimeError, match="in use: process 1 on host 'another-host.example'"):
        _tiny_sweep(tmp_path / "run")
    assert (tmp_path / "run" / "sweep.lock").exists()
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["sweep.lock"]


# ----------------------------------------------------------------------------- bad input


def _fn(key, params):
    return jax.random.normal(key) * params["t"]


GOOD = dict(fn=_fn, key=jax.random.key(0), grid={"t": np.ones(3)}, n_replicas=2, devices=CPU)


@pytest.mark.parametrize("change, error, name", [
    (dict(n_replicas=0), ValueError, "n_replicas"),
    (dict(n_replicas=-3), ValueError, "n_replicas"),
    (dict(n_replicas=2.0), TypeError, "n_replicas"),
    (dict(chunk_size=0), ValueError, "chunk_size"),
    (dict(chunk_size=-1), ValueError, "chunk_size"),
    (dict(grid={"t": jnp.ones(3), "h": jnp.ones(4)}), ValueError, "grid"),
    (dict(grid={"t": jnp.array([1.0, jnp.nan])}), ValueError, r"grid\['t'\]"),
    (dict(grid={"t": jnp.array([1.0, jnp.inf])}), ValueError, "grid"),
    (dict(grid={"t": 1.0}), ValueError, "grid"),
    (dict(grid={}), ValueError, "grid"),
    (dict(grid={"t": jnp.ones(0)}), ValueError, "grid"),
    (dict(key=jax.random.split(jax.random.key(0), 2)), ValueError, "key"),
    (dict(key=jnp.arange(2.0)), TypeError, "key"),
    (dict(key="seed"), TypeError, "key"),
    (dict(key=0), TypeError, "key"),
    (dict(fn="not a function"), TypeError, "fn"),
    (dict(devices=[]), ValueError, "devices"),
    (dict(tag=object()), TypeError, "tag"),
    (dict(on_chunk=3), TypeError, "on_chunk"),
])
def test_bad_input_names_the_argument(change, error, name):
    args = {**GOOD, **change}
    with pytest.raises(error, match=name):
        sweep(args.pop("fn"), args.pop("key"), args.pop("grid"), args.pop("n_replicas"),
              progress=False, **args)


@pytest.mark.parametrize("axes, name", [
    ({}, "axes"), ({"t": []}, "t"), ({"t": [[1.0]]}, "t"), ({"h": [0.0, np.nan]}, "h")])
def test_product_grid_bad_input(axes, name):
    with pytest.raises(ValueError, match=name):
        product_grid(**axes)


def test_key_outputs_are_refused():
    with pytest.raises(TypeError, match="fn"):
        sweep(lambda key, p: key, jax.random.key(0), jnp.ones(2), 2, progress=False, devices=CPU)
