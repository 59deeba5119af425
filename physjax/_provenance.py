"""Where a result came from: versions, backend, devices and, from a source checkout, the git
commit.  Recorded in every JSON file physjax writes (``physjax run``, ``physjax demo``, the
manifest of :func:`physjax.ensemble.sweep`)."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

__all__ = ["environment", "git_info"]


def _jaxlib_version() -> str:
    try:
        import jaxlib

        return jaxlib.__version__
    except Exception:  # pragma: no cover - jaxlib always ships with jax
        return "unknown"


def git_info() -> dict[str, Any] | None:
    """``{"commit": sha, "dirty": bool}`` when physjax runs from a git checkout, else None.

    Best effort: no git, no checkout, a timeout or any error gives None (``dirty`` is None
    when only the status could not be read).  Only the checkout physjax itself lives in
    counts (its parent folder holds ``.git``), not a repository around site-packages.
    """
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if not os.path.exists(os.path.join(repo, ".git")):
        return None

    def git(*args: str) -> str | None:
        try:
            proc = subprocess.run(["git", "-C", repo, *args], capture_output=True, text=True,
                                  timeout=10, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.SubprocessError):
            return None
        return proc.stdout if proc.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if not commit or not commit.strip():
        return None
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit.strip(), "dirty": None if status is None else bool(status.strip())}


def environment() -> dict[str, Any]:
    """Versions, backend, devices, x64 and the git commit (see :func:`git_info`)."""
    import jax

    import physjax

    return {
        "physjax": physjax.__version__,
        "python": sys.version.split()[0],
        "jax": jax.__version__,
        "jaxlib": _jaxlib_version(),
        "backend": jax.default_backend(),
        "device_count": jax.device_count(),
        "local_device_count": jax.local_device_count(),
        "process_count": jax.process_count(),
        "process_index": jax.process_index(),
        "devices": [f"{d.platform}:{d.id} {d.device_kind}" for d in jax.devices()],
        "x64": bool(jax.config.read("jax_enable_x64")),
        "git": git_info(),
    }
