"""A model package's layout and its manifest, read and checked without TensorFlow.

    <name>-<version>/
      manifest.json            name, version, what it was made from, and every other file with its sha256 and size
      recognizer.json          the export options (recognition.contract.RecognizerOptions, context settings included)
      detector/weights.npz     the weights by variable path (float16, or float32 with --float32)
      detector/config.json     the training run's config.json and the builder's arguments (models.builders)
      classifier/weights.npz
      classifier/config.json
      classifier/vocabulary.csv

The language model the context settings were tuned with is not copied: the manifest names the package's own
`language_model/classical.lm` by its sha256. `verify` checks every file against the manifest before anything
is built from it, so a damaged or edited package stops with a one-line `PackageError` saying what to do.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from kuzushiji_tf import config
from kuzushiji_tf.errors import KuzushijiError
from kuzushiji_tf.file_hashes import file_sha256
from kuzushiji_tf.language_model.ngram import SHIPPED_PATH as LANGUAGE_MODEL_PATH

PACKAGE_FORMAT = 1  # a package of another format is refused: its files may mean something else
MANIFEST = "manifest.json"
OPTIONS_FILE = "recognizer.json"
WEIGHTS_FILE = "weights.npz"
CONFIG_FILE = "config.json"
VOCABULARY_FILE = "vocabulary.csv"
DETECTOR, CLASSIFIER = "detector", "classifier"  # the models' folders, and what --detector / --classifier name
MODEL_KINDS = (DETECTOR, CLASSIFIER)
PACKAGE_ROOT = (
    Path(__file__).resolve().parents[1]
)  # the kuzushiji_tf folder: the manifest's language model is relative to it


class PackageError(KuzushijiError, ValueError):
    """A model package that is missing, damaged or of another format: one line naming the file and what to do."""


@dataclass(frozen=True)
class Manifest:
    """A package's manifest.json: `values` as read, `digest` the sha256 of its bytes (which list every
    file's sha256, so any change to the package changes it: the key of its rebuilt folders in the cache)."""

    folder: Path
    values: dict
    digest: str

    @property
    def name(self) -> str:
        return str(self.values["name"])

    @property
    def version(self) -> int:
        return int(self.values["version"])

    @property
    def label(self) -> str:
        """`<name>-<version>`, e.g. kuzushiji-reader-1: how the commands name the package."""
        return f"{self.name}-{self.version}"

    @property
    def files(self) -> dict[str, dict]:
        return self.values["files"]

    def path(self, *parts: str) -> Path:
        return self.folder.joinpath(*parts)


def is_package(path: str | Path) -> bool:
    """Whether `path` is a folder holding a manifest.json (an export folder has none)."""
    return (Path(path) / MANIFEST).is_file()


def is_shipped(folder: str | Path) -> bool:
    return Path(folder).resolve() == Path(config.SHIPPED_MODEL_DIR).resolve()


def remedy(folder: str | Path) -> str:
    """What to do about a damaged package: restore the shipped one, or package your own again."""
    if is_shipped(folder):
        try:
            shown = Path(folder).resolve().relative_to(PACKAGE_ROOT.parent)
        except ValueError:
            shown = Path(folder)
        return f"restore it with `git checkout -- {shown.as_posix()}` in a clone, or reinstall kuzushiji_tf"
    return "package the model again with kuzushiji-package-model"


def read_manifest(folder: str | Path) -> Manifest:
    """The manifest of the package `folder`, its format checked; PackageError when it is missing or unreadable."""
    folder = Path(folder)
    file = folder / MANIFEST
    try:
        data = file.read_bytes()
        values = json.loads(data)
    except FileNotFoundError:
        raise PackageError(f"{file}: missing, so {folder} is not a model package; {remedy(folder)}") from None
    except (OSError, ValueError) as error:
        raise PackageError(f"{file}: not a readable manifest ({error}); {remedy(folder)}") from None
    if not isinstance(values, dict) or values.get("format") != PACKAGE_FORMAT:
        found = values.get("format") if isinstance(values, dict) else None
        raise PackageError(
            f"{file}: a model package of format {found}, this version of kuzushiji_tf reads format "
            f"{PACKAGE_FORMAT}; {remedy(folder)}"
        )
    if not all(key in values for key in ("name", "version", "files", "language_model")):
        raise PackageError(f"{file}: lacks name, version, files or language_model; {remedy(folder)}")
    return Manifest(folder, values, hashlib.sha256(data).hexdigest())


def _check(file: Path, entry: dict, what: str, folder: Path) -> None:
    if not file.is_file():
        raise PackageError(
            f"{file}: missing, but the manifest of {what} lists it (sha256 {entry['sha256']}); {remedy(folder)}"
        )
    found = file_sha256(file)
    if found != entry["sha256"]:
        raise PackageError(
            f"{file}: changed since {what} was made: sha256 {found}, the manifest says {entry['sha256']}; "
            f"{remedy(folder)}"
        )


def verify(folder: str | Path) -> Manifest:
    """The manifest of `folder` after checking that every file it lists is there with its sha256, and that the
    language model it names is the one this installation reads; PackageError naming the first that is not."""
    manifest = read_manifest(folder)
    what = f"the model package {manifest.label}"
    for name, entry in sorted(manifest.files.items()):
        _check(manifest.path(*name.split("/")), entry, what, manifest.folder)
    language_model = manifest.values["language_model"]
    if not LANGUAGE_MODEL_PATH.is_file():
        raise PackageError(f"{LANGUAGE_MODEL_PATH}: missing (the shipped language model); reinstall kuzushiji_tf")
    found = file_sha256(LANGUAGE_MODEL_PATH)
    if found != language_model["sha256"]:
        raise PackageError(
            f"{LANGUAGE_MODEL_PATH}: sha256 {found}, but {manifest.label}'s context settings were tuned with "
            f"the language model of sha256 {language_model['sha256']}; reinstall kuzushiji_tf, or package the "
            "model again (kuzushiji-tune-context, then kuzushiji-package-model)"
        )
    return manifest


def file_entries(folder: str | Path) -> dict[str, dict]:
    """{relative path: {"sha256", "size"}} of every file under `folder` but the manifest, in sorted order."""
    folder = Path(folder)
    return {
        path.relative_to(folder).as_posix(): {"sha256": file_sha256(path), "size": path.stat().st_size}
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.name != MANIFEST
    }


def language_model_entry() -> dict:
    """The manifest's reference to the shipped language model: its path inside the package, sha256, size."""
    return {
        "path": LANGUAGE_MODEL_PATH.relative_to(PACKAGE_ROOT).as_posix(),
        "sha256": file_sha256(LANGUAGE_MODEL_PATH),
        "size": LANGUAGE_MODEL_PATH.stat().st_size,
    }
