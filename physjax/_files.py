"""Atomic file writes whose mode follows the umask, like any file ``open()`` creates.

:func:`tempfile.mkstemp` creates its file with mode ``0600`` whatever the umask, so an
output renamed into place from it cannot be read by the group on a shared file system.
:func:`atomic_write` makes its temporary file itself, with ``os.open(..., 0o666)`` and
``O_EXCL``: the kernel applies the umask (and a directory's default ACL) exactly as for
``open(path, "w")``, and nothing has to read or change the process-wide umask.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

__all__ = ["atomic_write", "create_file"]


def create_file(directory: str | os.PathLike, prefix: str, suffix: str = "") -> tuple[int, str]:
    """Create a new file ``directory/prefix<random>suffix`` with mode ``0o666 & ~umask``.

    Like :func:`tempfile.mkstemp` (``O_EXCL``, a fresh random name on a collision) but with
    the permissions of ordinary ``open()``.  Returns ``(fd, path)``, ``fd`` open for writing.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    flags |= getattr(os, "O_BINARY", 0)
    for _ in range(100):
        path = os.path.join(os.fspath(directory), f"{prefix}{os.urandom(6).hex()}{suffix}")
        try:
            return os.open(path, flags, 0o666), path
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary file name {prefix}*{suffix} in {directory!r}")


def atomic_write(path: str | os.PathLike, write: Callable[[IO[Any]], Any], *,
                 text: bool = False, prefix: str | None = None, suffix: str = "") -> None:
    """Write ``path`` atomically: ``write(f)`` into a new file of the same directory, ``fsync``,
    :func:`os.replace`, then ``fsync`` the directory (best effort).

    The file gets mode ``0o666 & ~umask``.  ``text=True`` opens ``f`` as UTF-8 text.  The
    temporary name is ``prefix + random + suffix`` (default prefix ``.NAME.``); it is
    removed if ``write`` fails.
    """
    path = os.fspath(path)
    directory = os.path.dirname(path) or "."
    if prefix is None:
        prefix = f".{os.path.basename(path)}."
    fd, tmp = create_file(directory, prefix, suffix)
    try:
        with (os.fdopen(fd, "w", encoding="utf-8") if text else os.fdopen(fd, "wb")) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # make the rename durable too (POSIX directories)
        dfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` atomically (:func:`atomic_write`), creating its folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda f: f.write(text), text=True, suffix=".tmp")
