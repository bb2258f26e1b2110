"""Reading and writing files by path on any filesystem Beam knows (local, gs://, s3://, hdfs://, ...).

Outputs must look whole or not be there at all, as the folder CLI's do, since a rerun skips pages whose
files exist: a local file is written under a temporary name and renamed (`atomic_files`); an object
store's object appears only when its upload is closed, so a killed worker leaves nothing behind.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from kuzushiji_tf.atomic_files import write_atomic

RAW = CompressionTypes.UNCOMPRESSED  # bytes as stored: Beam would otherwise gunzip a name ending .gz


def is_local(path: str) -> bool:
    return FileSystems.get_scheme(str(path)) in (None, "file")


def join(base: str, relative: str) -> str:
    """`relative` (a page name with `/`, a file name) under `base`, in the base's own filesystem."""
    return os.path.join(base, relative) if is_local(base) else f"{base.rstrip('/')}/{relative}"


def exists(path: str) -> bool:
    return Path(path).is_file() if is_local(path) else FileSystems.exists(path)


def read_bytes(path: str) -> bytes:
    if is_local(path):
        return Path(path).read_bytes()
    with FileSystems.open(path, compression_type=RAW) as handle:
        return handle.read()


def read_text(path: str) -> str | None:
    """The file's text, or None when there is none."""
    try:
        return read_bytes(path).decode("utf-8") if exists(path) else None
    except (OSError, UnicodeDecodeError):
        return None


def write(path: str, data: bytes | str) -> None:
    if is_local(path):
        write_atomic(path, data, make_parents=True)
        return
    with FileSystems.create(path, compression_type=RAW) as handle:
        handle.write(data.encode("utf-8") if isinstance(data, str) else data)


def delete(path: str) -> None:
    if exists(path):
        if is_local(path):
            Path(path).unlink()
        else:
            FileSystems.delete([path])


def local_copy(folder: str) -> Path:
    """A local folder holding `folder`'s files: the folder itself when it is local, else a copy in a new
    temporary folder (an exported model on a bucket, copied once per worker when the model loads)."""
    if is_local(folder):
        return Path(folder)
    base = folder.rstrip("/") + "/"
    target = Path(tempfile.mkdtemp(prefix="kuzushiji_model_"))
    try:
        found = FileSystems.match([base + "**"])[0].metadata_list
        if not found:
            raise FileNotFoundError(f"{folder}: no files there")
        for meta in found:
            local = target / meta.path[len(base) :]
            local.parent.mkdir(parents=True, exist_ok=True)
            with FileSystems.open(meta.path, compression_type=RAW) as source, open(local, "wb") as sink:
                shutil.copyfileobj(source, sink)
    except BaseException:  # no half copy left behind to fill a worker's disk
        shutil.rmtree(target, ignore_errors=True)
        raise
    # The loaded model is used for the process's life; the copy goes when the process ends.
    atexit.register(shutil.rmtree, target, ignore_errors=True)
    return target
