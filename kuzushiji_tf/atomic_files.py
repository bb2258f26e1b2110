"""Whole-or-nothing file writes: a crash mid-write never leaves a file that looks complete.

Kept free of TensorFlow so the pure-Python tools (evaluate, make_synthetic) can use it."""

from __future__ import annotations

import os
import re
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


# The temporary name write_atomic gives a file: .<name>.<pid>.<8 hex>.tmp
_TEMPORARY = re.compile(r"\.(?P<name>.+)\.(?P<pid>\d+)\.[0-9a-f]{8}\.tmp")
# Per folder, the orphans found when this process first wrote there, by the name of the file they were for.
# Listed once per folder, not per write: a per-write listing made each write in a folder of 20,000 files
# 26 x slower (18 ms against 0.7), which a folder of a whole library's pages would pay on every page.
_ORPHANS: dict[Path, dict[str, list[Path]]] = {}


def _remove_orphans(path: Path) -> None:
    """Removes the temporary files of `path` whose writer process is gone: a writer killed mid-write (SIGKILL,
    power loss) cannot clean up, so the next whole write of the same file does. A live writer's file stays.
    Orphans are looked for when this process first writes into the folder; a writer killed later is cleaned
    up by the next run. Process ids are this machine's; a folder written by writers on several machines at
    once is not expected (buckets do not go through here)."""
    folder = path.parent
    if folder not in _ORPHANS:
        found: dict[str, list[Path]] = {}
        with os.scandir(folder) as entries:
            for entry in entries:
                match = _TEMPORARY.fullmatch(entry.name)
                if match and not process_alive(int(match["pid"])):
                    found.setdefault(match["name"], []).append(Path(entry.path))
        _ORPHANS[folder] = found
    for orphan in _ORPHANS[folder].pop(path.name, ()):
        orphan.unlink(missing_ok=True)


def process_alive(pid: int) -> bool:
    """Whether process `pid` of this machine is running: a temporary file or folder of a dead one is an orphan."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True
