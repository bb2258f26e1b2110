"""Whole-or-nothing file writes: a crash mid-write never leaves a file that looks complete.

Kept free of TensorFlow so the pure-Python tools (evaluate, make_synthetic) can use it."""
from __future__ import annotations

import glob
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
    _remove_orphans(path)
    return path


def _remove_orphans(path: Path) -> None:
    """Removes the temporary files of `path` whose writer process is gone: a writer killed mid-write (SIGKILL,
    power loss) cannot clean up, so the next whole write of the same file does. A live writer's file stays.
    Process ids are this machine's; a folder written by writers on several machines at once is not expected
    (buckets do not go through here)."""
    for orphan in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        pid = orphan.name[len(path.name) + 2:].split(".")[0]
        if pid.isdigit() and not _alive(int(pid)):
            orphan.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True
