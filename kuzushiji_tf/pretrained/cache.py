"""Where a model package's rebuilt folders go, and building each of them once (no TensorFlow here).

A package is rebuilt into `<user cache>/pretrained/<name>-<version>-<manifest digest>/` (`user_cache`:
$KUZUSHIJI_CACHE_DIR, else $XDG_CACHE_HOME or ~/.cache, then kuzushiji_tf/). The digest is the sha256 of
the manifest, which lists every file's sha256: a changed package rebuilds into a new folder instead of
reusing the old one; so does a newer kuzushiji_tf whose rebuilt exports differ (`-b<BUILD_FORMAT>`). With $KUZUSHIJI_CACHE_DIR=off the folders go to a temporary folder of this process.

Each folder is built into a temporary sibling and renamed into place, so a folder that exists is complete.
A lock file serialises the builders of one folder on one machine (the second waits, then finds it built);
where the lock cannot reach (another machine on a shared disk), two builders race to the rename and the
loser drops its copy, so nothing is lost or half-read either way.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import secrets
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from kuzushiji_tf.atomic_files import process_alive
from kuzushiji_tf.pretrained.manifest import Manifest
from kuzushiji_tf.user_cache import cache_dir

try:
    import fcntl
except ImportError:  # Windows: no lock, the rename race alone keeps the cache whole
    fcntl = None

CACHE_SUBDIR = "pretrained"
DIGEST_CHARS = 16  # of the manifest's sha256 in the folder's name: enough to tell packages apart
# Bumped whenever what is rebuilt from a package changes shape (2: the SavedModel's classify_boxes signature
# for the web page's drawn boxes), so a build by an older kuzushiji_tf is not reused without it.
BUILD_FORMAT = 2
_TEMPORARY: list[Path] = []  # the temporary cache of this process when the user cache is off


def package_cache(manifest: Manifest) -> Path:
    """The folder the package of `manifest` is rebuilt into (not created here)."""
    name = f"{manifest.label}-{manifest.digest[:DIGEST_CHARS]}-b{BUILD_FORMAT}"
    folder = cache_dir(CACHE_SUBDIR, name)
    if folder is not None:
        return folder
    if not _TEMPORARY:
        _TEMPORARY.append(Path(tempfile.mkdtemp(prefix="kuzushiji_tf_pretrained_")))
        atexit.register(shutil.rmtree, _TEMPORARY[0], True)
    return _TEMPORARY[0] / name


@contextlib.contextmanager
def _locked(lock: Path) -> Iterator[None]:
    """Holds an exclusive lock on the file `lock` (created if need be) for the `with` block; the lock is
    released when the process ends, even killed, so a crashed builder never blocks the next."""
    if fcntl is None:
        yield
        return
    with open(lock, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _remove_orphans(target: Path) -> None:
    """Temporary folders of `target`'s builders that died mid-build (killed, out of memory)."""
    for tmp in target.parent.glob(f".{target.name}.*.tmp"):
        pid = tmp.name.split(".")[-3]
        if pid.isdigit() and not process_alive(int(pid)):
            shutil.rmtree(tmp, ignore_errors=True)


def build_once(
    target: Path,
    build: Callable[[Path], Path],
    *,
    complete: Callable[[Path], bool],
    announce: str,
    log: Callable[[str], None],
) -> Path:
    """`target`, built by `build` unless `complete(target)` already holds. `build(tmp)` writes into the empty
    temporary folder `tmp` and returns the folder (tmp or one inside it) that becomes `target`; `announce` is
    logged before it runs, only when this process builds."""
    if complete(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with _locked(target.parent / f".{target.name}.lock"):
        if complete(target):  # built by the process this one waited for
            return target
        _remove_orphans(target)
        if target.exists() and not complete(target):  # damaged by hand: no builder of this machine uses it
            shutil.rmtree(target)
        log(announce)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        tmp.mkdir()
        try:
            built = build(tmp)
            try:
                built.rename(target)
            except OSError:
                if not complete(target):  # not a lost race: a real failure
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return target
