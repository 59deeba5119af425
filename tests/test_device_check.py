"""benchmarks/device_check.py at tiny size (so that it cannot rot), its roofline probes, and
its handling of bad input.  Timings are not asserted: only that every row ran and carries
a unit, a positive rate and a roofline fraction."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "benchmarks"
SCRIPT = BENCH / "device_check.py"
# the families that have device-check workloads; a new bench_*.py without them is reported
# as "not covered" by the script (and flagged here)
FAMILIES = {"boltzmann", "curvature", "diffusion", "dynamics", "hopfield", "ising", "networks",
            "springs",
            "train"}


def _bench_import(name):
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))
    return __import__(name)


@pytest.fixture(scope="module")
def record(tmp_path_factory):
    out = tmp_path_factory.mktemp("device-check") / "check.json"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--size", "tiny", "--repeats", "2",
                           "--out", str(out)], capture_output=True, text=True, timeout=600,
                          cwd=REPO)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    return json.loads(out.read_text()), proc.stdout


def test_every_family_ran(record):
    rec, _ = record
    assert rec["kind"] == "device-check" and rec["options"]["size"] == "tiny"
    names = {f["name"] for f in rec["families"]}
    assert FAMILIES <= names
    for fam in rec["families"]:
        assert fam["error"] is None, fam["error"]
        if fam["name"] in FAMILIES:
            assert fam["skipped"] is None and fam["rows"], fam["name"]
        else:  # a family added later without device-check workloads: said so, not failed
            assert fam["rows"] or fam["skipped"], fam["name"]


def test_every_row_has_unit_rate_and_roofline(record):
    rec, _ = record
    rows = [(f["name"], r) for f in rec["families"] for r in f["rows"]]
    assert len(rows) >= 12
    for family, row in rows:
        where = f"{family}: {row['name']}"
        assert row["unit"], where
        assert row["figure"] > 0 and math.isfinite(row["figure"]), where
        assert row["median_s"] > 0, where
        assert row.get("compile_s") is not None and row["compile_s"] >= 0, where
        rl = row["roofline"]
        assert rl is not None, f"{where}: no work count (bytes/flops) for the roofline"
        assert rl["bound"] in ("memory", "compute"), where
        assert 0 < rl["fraction"] <= 1.2, f"{where}: roofline fraction {rl['fraction']}"
        assert rl["limit"] > 0 and rl["limit_source"].startswith("measured"), where
        for a in row["anchors"]:  # measured, or skipped with a reason
            assert a.get("figure") or a.get("unavailable"), f"{where}: {a}"


def test_table_and_reference_columns(record):
    rec, stdout = record
    assert "roofline" in stdout and "compile s" in stdout
    assert "cuIsing 893/H100" in stdout
    ising = next(f for f in rec["families"] if f["name"] == "ising")
    refs = [r for row in ising["rows"] for r in row["references"]]
    assert any(r["kind"] == "published" and r["figure"] == 893.0 for r in refs)
    assert rec["roofline_limits"]["memory_gbs"] > 0
    assert rec["roofline_limits"]["compute_gflops"] > 0


def test_probes_are_positive_and_finite():
    roofline = _bench_import("_roofline")
    bw = roofline.probe_bandwidth(n=1 << 22, repeats=2)
    mm = roofline.probe_gemm(n=256, repeats=2)
    for value in (bw["copy_gbs"], bw["triad_gbs"], bw["gbs"], mm["gflops"]):
        assert value > 0 and math.isfinite(value)
    assert "triad" in bw["method"] and "GEMM" in mm["method"]


def test_roofline_entry():
    roofline = _bench_import("_roofline")
    limits = {"memory_gbs": 10.0, "memory_source": "measured: stream", "compute_gflops": 100.0,
              "compute_source": "measured: gemm"}
    mem = roofline.roofline({"bytes": 5e9, "median_s": 1.0}, limits)
    assert mem["bound"] == "memory" and mem["fraction"] == pytest.approx(0.5)
    both = roofline.roofline({"bytes": 1e9, "flops": 50e9, "median_s": 1.0}, limits)
    assert both["bound"] == "compute" and both["fraction"] == pytest.approx(0.5)
    assert both["arithmetic_intensity"] == pytest.approx(50.0)
    assert roofline.roofline({"median_s": 1.0}, limits) is None
    assert roofline.fmt(mem) == "0.5 mem" and roofline.fmt(None) == "-"


def test_unknown_family_is_an_error_naming_it(tmp_path):
    proc = subprocess.run([sys.executable, str(SCRIPT), "--only", "nonsense", "--out",
                           str(tmp_path)], capture_output=True, text=True, timeout=120,
                          cwd=REPO)
    assert proc.returncode == 2
    assert "nonsense" in proc.stderr and "ising" in proc.stderr
    assert not list(tmp_path.iterdir())
