"""Whole-or-nothing file writes: a crash mid-write never leaves a file that looks complete.

Kept free of TensorFlow so the pure-Python tools (evaluate, make_synthetic) can use it."""
from __future__ import annotations

import os
import secrets
from pathlib import Path


def write_atomic(path: str | Path, data: bytes | str, *, make_parents: bool = False) -> Path:
    """Writes `data` (str as UTF-8) to a uniquely named temporary file beside `path`, flushes it to disk
    and renames it over `path`; on any failure the temporary file is removed and `path` is untouched."""
    path = Path(path)
    if make_parents:
        path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    # Unique per process and call, so concurrent writers of one file never share a temporary file.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "xb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
