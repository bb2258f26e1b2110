"""Which model a command uses: `--model` when given (an export folder, or a model package), else the shipped
model; and the word `shipped` (or a package folder) wherever a training folder is accepted. No TensorFlow:
the rebuilt folders are built on first use only (`rebuild`, imported then), and an ONNX export already in
the cache loads without it.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kuzushiji_tf import config
from kuzushiji_tf.pretrained.cache import build_once, package_cache
from kuzushiji_tf.pretrained.manifest import (
    MODEL_KINDS,
    WEIGHTS_FILE,
    Manifest,
    PackageError,
    is_package,
    is_shipped,
    verify,
)
from kuzushiji_tf.recognition.contract import PAGE_MODEL, is_page_model, model_backend, newest_version

SHIPPED = "shipped"  # the word --model, --detector, --classifier and --init take for the shipped model
EXPORT_DIRS = {"tf": PAGE_MODEL, "onnx": f"{PAGE_MODEL}_onnx"}
EXPORT_NAMES = {"tf": "SavedModel", "onnx": "ONNX export"}
# Seconds a rebuild takes on 2 busy CPU cores, a fixed part plus a part per MB of stored weights, fitted to
# the demo's float16 package (34.5 MB of weights: SavedModel 19 s, ONNX 66 s; detector folder 9 s for 31 MB,
# classifier folder 2.5 s for 3.4 MB). Only for the message that says a build is under way.
BUILD_SECONDS = {"tf": (8.0, 0.33), "onnx": (15.0, 1.5), "folder": (2.0, 0.25)}


class NoShippedModelError(PackageError):
    """This copy of kuzushiji_tf ships no model: the command needs --model."""


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def shipped_model_dir() -> Path:
    """Where the shipped model's package is (config.SHIPPED_MODEL_DIR, read at each call)."""
    return Path(config.SHIPPED_MODEL_DIR)


def shipped_model_available() -> bool:
    return is_package(shipped_model_dir())


def package_manifest(value: str | Path | None = None) -> Manifest:
    """The checked manifest of the package `value` (a folder), or of the shipped model for None or `shipped`."""
    if value is None or str(value) == SHIPPED:
        folder = shipped_model_dir()
        if not is_package(folder):
            raise NoShippedModelError(
                f"no model is shipped with this copy of kuzushiji_tf ({folder} holds none): pass --model "
                "(an export of kuzushiji-export, or a package of kuzushiji-package-model); docs/pretrained.md"
            )
        return verify(folder)
    return verify(value)


def _who(manifest: Manifest) -> str:
    return (
        f"the shipped model {manifest.label}" if is_shipped(manifest.folder) else f"the model package {manifest.folder}"
    )


def _announce(manifest: Manifest, what: str, target: Path, seconds: tuple[float, float], files: list[str]) -> str:
    megabytes = sum(manifest.files[name]["size"] for name in files) / 1e6
    estimate = seconds[0] + seconds[1] * megabytes
    return f"building {_who(manifest)}'s {what} into {target} (once, about {estimate:.0f} s)"


def package_export(manifest: Manifest, backend: str = "auto", log: Callable[[str], None] = _stderr) -> Path:
    """The package's page recogniser, SavedModel (backend auto or tf) or ONNX (onnx), built into the cache
    on first use."""
    kind = "onnx" if backend == "onnx" else "tf"
    target = package_cache(manifest) / EXPORT_DIRS[kind] / "1"

    def build(tmp: Path) -> Path:
        if kind == "onnx":
            try:
                from kuzushiji_tf.backends.onnx.export import check_onnx_export_available

                check_onnx_export_available()
            except ImportError as error:
                raise PackageError(f"building {_who(manifest)}'s ONNX export: {error}") from None
        from kuzushiji_tf.pretrained.rebuild import write_export

        return write_export(manifest, kind, tmp)

    weights = [f"{kind}/{WEIGHTS_FILE}" for kind in MODEL_KINDS]
    announce = _announce(manifest, EXPORT_NAMES[kind], target, BUILD_SECONDS[kind], weights)
    return build_once(target, build, complete=is_page_model, announce=announce, log=log)


def package_training_folder(manifest: Manifest, kind: str, log: Callable[[str], None] = _stderr) -> Path:
    """The package's detector or classifier (`kind`) as a training folder, built into the cache on first use."""
    if kind not in MODEL_KINDS:
        raise ValueError(f"kind must be one of {MODEL_KINDS}; received {kind!r}")
    target = package_cache(manifest) / kind

    def build(tmp: Path) -> Path:
        from kuzushiji_tf.pretrained.rebuild import write_training_folder

        return write_training_folder(manifest, kind, tmp)

    announce = _announce(manifest, f"{kind} folder", target, BUILD_SECONDS["folder"], [f"{kind}/{WEIGHTS_FILE}"])
    complete = lambda folder: (folder / "model.keras").is_file()  # noqa: E731
    return build_once(target, build, complete=complete, announce=announce, log=log)


@dataclass(frozen=True)
class ModelChoice:
    """The export folder a command loads, and where it came from in words (`line` prints it)."""

    path: Path
    description: str
    seconds: float = 0.0  # spent choosing it: checking the package, and building on first use

    @property
    def line(self) -> str:
        return f"model: {self.description}"


def choose_page_model(
    model: str | Path | None = None,
    *,
    backend: str = "auto",
    models_dir: str | Path | None = None,
    check: bool = True,
    flag: str = "--model",
    log: Callable[[str], None] = _stderr,
) -> ModelChoice:
    """The page recogniser a command uses: `model` (an export folder, or a package folder, or `shipped`) when
    given; else the newest version under `models_dir`/kuzushiji_page when that is given; else the shipped
    model. Nothing is looked up implicitly: an export lying in the current directory never takes the shipped
    model's place. An export folder is checked to hold one (FileNotFoundError) unless `check` is off (a
    bucket's folder, which the caller checks); `flag` names the option in the description.
    NoShippedModelError when the shipped model is asked for and none is shipped."""
    start = time.perf_counter()
    if model is not None and str(model) != SHIPPED and not is_package(model):
        if check:
            model_backend(model)
        return ModelChoice(Path(model), f"{model} ({flag})")
    if model is None and models_dir is not None:
        path = newest_version(Path(models_dir) / PAGE_MODEL)
        return ModelChoice(path, f"{path} (the newest version under --models-dir {models_dir})")
    manifest = package_manifest(model)
    path = package_export(manifest, backend, log)
    kind = "onnx" if backend == "onnx" else "tf"
    where = f"{EXPORT_NAMES[kind]} rebuilt in {path}"
    if model is None or str(model) == SHIPPED:
        description = f"shipped {manifest.label} ({manifest.values.get('weights', 'float16')} weights, {where})"
    else:
        description = f"{model} ({flag}: model package {manifest.label}, {where})"
    return ModelChoice(path, description, time.perf_counter() - start)


def training_folder(value: str, kind: str, log: Callable[[str], None] = _stderr) -> str:
    """`value` as given (a training folder or a .keras file), or for `shipped` or a package folder, the
    package's `kind` (detector or classifier) rebuilt as a training folder; logs which one it is."""
    if str(value) != SHIPPED and not is_package(value):
        return value
    manifest = package_manifest(value)
    folder = package_training_folder(manifest, kind, log)
    origin = f"shipped {manifest.label}" if str(value) == SHIPPED else f"{value} (model package {manifest.label})"
    log(f"{kind}: {origin}, rebuilt in {folder}")
    return str(folder)
