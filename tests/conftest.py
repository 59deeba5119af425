"""Shared test helpers."""

import json

import numpy as np
import pytest

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="session")
def run_quick_experiment():
    """Run a registered experiment at quick size into a fresh folder and check what every
    experiment must write: a PNG, a JSON record with the same summary, scalar summaries."""
    from physjax.experiments import run_experiment

    def run(name, tmp_path_factory, **overrides):
        out = tmp_path_factory.mktemp(name)
        result = run_experiment(name, size="quick", overrides=overrides, out_dir=out)
        assert (out / f"{name}.png").read_bytes()[:8] == PNG_MAGIC
        record = json.loads((out / f"{name}.json").read_text())
        assert record["summary"].keys() == result.summary.keys()
        assert all(np.isscalar(v) for v in result.summary.values())
        assert result.summary["seconds"] > 0
        return result

    return run
