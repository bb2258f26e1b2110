"""Writing a model package (kuzushiji-package-model): a detector and a classifier training folder and the
export options -> the folder `manifest` describes, written whole or not at all."""

from __future__ import annotations

import json
import os
import secrets
import shutil
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from kuzushiji_tf import __version__
from kuzushiji_tf.data.records import read_vocabulary
from kuzushiji_tf.file_hashes import file_sha256
from kuzushiji_tf.models.builders import build_arguments, build_model
from kuzushiji_tf.models.classifier import num_classes
from kuzushiji_tf.models.saved_models import load_model, resolve_keras_file
from kuzushiji_tf.pretrained.manifest import (
    CLASSIFIER,
    CONFIG_FILE,
    DETECTOR,
    MANIFEST,
    OPTIONS_FILE,
    PACKAGE_FORMAT,
    VOCABULARY_FILE,
    WEIGHTS_FILE,
    Manifest,
    PackageError,
    file_entries,
    language_model_entry,
    read_manifest,
)
from kuzushiji_tf.pretrained.weights import save_weights, weight_arrays
from kuzushiji_tf.recognition.contract import RecognizerOptions


def _training_config(model_file: Path, kind: str, arguments: dict) -> dict:
    """The run's config.json beside `model_file` (or a bare one when there is none), with the builder's
    arguments under "build" and the model fields that `kuzushiji-train --init` reads back."""
    file = model_file.parent / CONFIG_FILE
    saved = json.loads(file.read_text(encoding="utf-8")) if file.is_file() else {}
    if saved.get("task", kind) != kind:
        raise PackageError(f"{file}: a {saved.get('task')!r} run, given as the {kind}")
    fields = {key: value for key, value in arguments.items() if key not in ("builder", "num_classes")}
    return {**saved, "task": kind, "model": {**saved.get("model", {}), **fields}, "build": arguments}


def _package_model(model_file: Path, kind: str, out: Path, float16: bool):
    """Writes out/<kind>/weights.npz and config.json; returns the model."""
    model = load_model(model_file)
    try:
        arguments = build_arguments(model)
    except ValueError as error:
        raise PackageError(f"{model_file}: {error}") from None
    if arguments["builder"] != kind:
        raise PackageError(f"{model_file}: a {arguments['builder']}, given as the {kind}")
    rebuilt = {v.path: tuple(v.shape) for v in build_model(arguments).weights}
    stored = {path: tuple(value.shape) for path, value in weight_arrays(model, float16=False).items()}
    if rebuilt != stored:  # e.g. a backbone built with overrides: its weights would not load back
        raise PackageError(f"{model_file}: the project's builder, given {arguments}, does not rebuild this {kind}")
    folder = out / kind
    folder.mkdir()
    save_weights(model, folder / WEIGHTS_FILE, float16)
    config = _training_config(model_file, kind, arguments)
    (folder / CONFIG_FILE).write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return model


def _source(path: Path) -> dict:
    return {"path": str(path.resolve()), "sha256": file_sha256(path)}


def write_package(
    out: str | Path,
    *,
    detector: str | Path,
    classifier: str | Path,
    options: RecognizerOptions,
    vocabulary: str | Path | None = None,
    context: str | Path | None = None,
    name: str,
    version: int,
    float16: bool = True,
    overwrite: bool = False,
) -> Manifest:
    """Writes the package folder `out` from a detector and a classifier (training folders or .keras files),
    the classifier's vocabulary.csv (default: the one beside it), the export options (`context`, the
    tune-context file they took their settings from, is recorded as a source) and returns its manifest.
    `out` is written into a temporary sibling and renamed into place; an existing package is replaced
    only with `overwrite`."""
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise PackageError(f"{out}: already holds files; pass --overwrite to replace it")
    detector_file, classifier_file = resolve_keras_file(detector), resolve_keras_file(classifier)
    vocabulary_file = Path(vocabulary) if vocabulary else classifier_file.parent / VOCABULARY_FILE
    if not vocabulary_file.is_file():
        raise PackageError(f"{vocabulary_file}: missing (the classifier's class id -> code table); pass --vocabulary")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    tmp.mkdir()
    try:
        _package_model(detector_file, DETECTOR, tmp, float16)
        classes = num_classes(_package_model(classifier_file, CLASSIFIER, tmp, float16))
        shutil.copyfile(vocabulary_file, tmp / CLASSIFIER / VOCABULARY_FILE)
        listed = len(read_vocabulary(tmp / CLASSIFIER))
        if listed != classes:
            raise PackageError(
                f"the classifier has {classes} classes but {vocabulary_file} lists {listed}; pass the "
                "--vocabulary of the records it was trained on"
            )
        (tmp / OPTIONS_FILE).write_text(options.for_classes(classes).to_json() + "\n", encoding="utf-8")
        sources = {DETECTOR: _source(detector_file), CLASSIFIER: _source(classifier_file)}
        sources["vocabulary"] = _source(vocabulary_file)
        if context:
            sources["context"] = _source(Path(context))
        manifest = {
            "format": PACKAGE_FORMAT,
            "name": name,
            "version": int(version),
            "created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "kuzushiji_tf": __version__,
            "weights": "float16" if float16 else "float32",
            "made_from": sources,
            "language_model": language_model_entry(),
            "files": file_entries(tmp),
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        _replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return read_manifest(out)


def _replace(tmp: Path, out: Path) -> None:
    """Renames `tmp` to `out`; an existing `out` is moved aside first and removed once `tmp` is in place."""
    if not out.exists():
        tmp.rename(out)
        return
    old = out.with_name(f".{out.name}.{os.getpid()}.{secrets.token_hex(4)}.old")
    out.rename(old)
    tmp.rename(out)
    shutil.rmtree(old, ignore_errors=True)


def weights_dtypes(manifest: Manifest, kind: str) -> dict[str, int]:
    """{dtype name: bytes} of a package model's stored arrays (for the command's size report)."""
    totals: dict[str, int] = {}
    with np.load(manifest.path(kind, WEIGHTS_FILE), allow_pickle=False) as stored:
        for name in stored.files:
            array = stored[name]
            totals[str(array.dtype)] = totals.get(str(array.dtype), 0) + array.nbytes
    return totals
