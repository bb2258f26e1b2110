"""The shipped model and model packages (kuzushiji_tf.pretrained, kuzushiji-package-model): a tiny model
packaged here, its manifest checked file by file, rebuilt into a cache once, and used by default by the
reading commands in place of the shipped one (config.SHIPPED_MODEL_DIR pointed at it); and the real shipped
folder checked once the maintainer has added it."""

from __future__ import annotations

import hashlib
import json
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import TINY_VOCABULARY, page_bytes, save_training_folders, tiny_page_models
from kuzushiji_tf import config
from kuzushiji_tf.cli import package_model
from kuzushiji_tf.errors import KuzushijiError
from kuzushiji_tf.file_hashes import file_sha256
from kuzushiji_tf.language_model.ngram import SHIPPED_PATH as LANGUAGE_MODEL
from kuzushiji_tf.pretrained import (
    SHIPPED,
    NoShippedModelError,
    PackageError,
    choose_page_model,
    training_folder,
    verify,
)
from kuzushiji_tf.pretrained import cache as cache_module
from kuzushiji_tf.pretrained import resolve as resolve_module
from kuzushiji_tf.pretrained.manifest import MANIFEST, is_package, read_manifest
from kuzushiji_tf.user_cache import CACHE_DIR_ENV

CONTEXT = {"temperature": 1.5, "context": {"lm_weight": 0.2, "beam": 3, "keep_above": 0.8, "order": 3}}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(detector, classifier, detector folder, classifier folder, context settings file): the tiny models as
    training runs leave them, and a kuzushiji-tune-context settings file."""
    root = tmp_path_factory.mktemp("trained")
    detector, classifier = tiny_page_models()
    det_dir, cls_dir = save_training_folders(detector, classifier, root)
    context = root / "context.json"
    context.write_text(json.dumps(CONTEXT))
    return detector, classifier, det_dir, cls_dir, context


@pytest.fixture(scope="module")
def package(trained, tmp_path_factory) -> Path:
    """The tiny models packaged by the command, float16, with export options and the context settings."""
    _, _, det_dir, cls_dir, context = trained
    out = tmp_path_factory.mktemp("packages") / "kuzushiji-reader-1"
    flags = ["--detector", str(det_dir), "--classifier", str(cls_dir), "--context", str(context)]
    assert package_model.main(flags + ["--out", str(out), "--short-side", "128", "--cls-threshold", "0"]) == 0
    return out


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory) -> Path:
    """One cache for the tests that use the rebuilt package without counting builds."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture
def shipped(package, shared_cache, monkeypatch) -> Path:
    """The tiny package as the shipped model (the one constant pointed at it), rebuilt into the shared cache."""
    monkeypatch.setattr(config, "SHIPPED_MODEL_DIR", package)
    monkeypatch.setenv(CACHE_DIR_ENV, str(shared_cache))
    return package


def _copy(package: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(package, tmp_path / package.name))


def test_the_manifest_lists_every_file_with_its_sha256_and_size(package, trained, capsys):
    manifest = json.loads((package / MANIFEST).read_text())
    on_disk = {p.relative_to(package).as_posix() for p in package.rglob("*") if p.is_file()} - {MANIFEST}
    assert (
        set(manifest["files"])
        == on_disk
        == {
            "recognizer.json",
            "detector/weights.npz",
            "detector/config.json",
            "classifier/weights.npz",
            "classifier/config.json",
            "classifier/vocabulary.csv",
        }
    )
    for name, entry in manifest["files"].items():
        assert entry == {"sha256": file_sha256(package / name), "size": (package / name).stat().st_size}
    assert (manifest["name"], manifest["version"]) == (config.SHIPPED_MODEL_NAME, config.SHIPPED_MODEL_VERSION)
    assert manifest["weights"] == "float16"
    # The language model is referenced by its sha256, not copied.
    assert manifest["language_model"] == {
        "path": "language_model/classical.lm",
        "sha256": file_sha256(LANGUAGE_MODEL),
        "size": LANGUAGE_MODEL.stat().st_size,
    }
    assert not list(package.rglob("*.lm"))
    made_from = manifest["made_from"]
    assert made_from["detector"]["path"] == str(trained[2] / "model.keras")
    assert made_from["context"]["sha256"] == file_sha256(trained[4])
    # The export options carry the command's flags and the context settings, by field name.
    options = json.loads((package / "recognizer.json").read_text())
    assert (options["short_side"], options["cls_threshold"], options["temperature"]) == (128, 0.0, 1.5)
    assert (options["lm_weight"], options["beam"], options["keep_above"], options["context_order"]) == (0.2, 3, 0.8, 3)
    assert options["top_k"] == len(TINY_VOCABULARY)  # no more candidates than classes
    assert verify(package).digest == hashlib.sha256((package / MANIFEST).read_bytes()).hexdigest()


def test_kernels_are_float16_and_vectors_float32(package, trained):
    detector = trained[0]
    with np.load(package / "detector" / "weights.npz", allow_pickle=False) as stored:
        assert set(stored.files) == {v.path for v in detector.weights}
        dtypes = {name: (stored[name].dtype, stored[name].ndim) for name in stored.files}
        original = {v.path: np.asarray(v.numpy()) for v in detector.weights}
        kernel = next(name for name, (_, ndim) in dtypes.items() if ndim == 4)
        np.testing.assert_array_equal(stored[kernel], original[kernel].astype(np.float16))
    assert {dtype for dtype, ndim in dtypes.values() if ndim >= 2} == {np.dtype(np.float16)}
    assert {dtype for dtype, ndim in dtypes.values() if ndim < 2} == {np.dtype(np.float32)}


def test_weights_past_float16_s_range_stay_float32():
    import keras

    from kuzushiji_tf.pretrained.weights import weight_arrays

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="dense")])
    kernel, bias = model.layers[0].kernel, model.layers[0].bias
    kernel.assign(np.full((3, 2), 1e6, np.float32))
    arrays = weight_arrays(model)
    assert arrays[kernel.path].dtype == np.float32 and arrays[bias.path].dtype == np.float32
    assert arrays[kernel.path][0, 0] == 1e6


def test_a_changed_file_fails_the_check_naming_it_and_both_hashes(package, tmp_path, monkeypatch, capsys):
    copy = _copy(package, tmp_path)
    weights = copy / "detector" / "weights.npz"
    expected = file_sha256(weights)
    data = bytearray(weights.read_bytes())
    data[-100] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(PackageError) as raised:
        verify(copy)
    message = str(raised.value)
    assert str(weights) in message and expected in message and file_sha256(weights) in message
    assert "package the model again with kuzushiji-package-model" in message and "\n" not in message
    # As the shipped model, the advice is to restore it; a command ends with that one line and status 2.
    monkeypatch.setattr(config, "SHIPPED_MODEL_DIR", copy)
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path / "cache"))
    from kuzushiji_tf.cli import transcribe

    page = tmp_path / "page.png"
    page.write_bytes(page_bytes(".png"))
    assert transcribe.main([str(page)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("transcribe: error: ") and err.count("\n") == 1
    assert "changed since" in err and expected in err and "git checkout -- " in err and "reinstall" in err
    assert not (tmp_path / "cache").exists()  # nothing is built from a damaged package


def test_a_missing_file_fails_the_check(package, tmp_path):
    copy = _copy(package, tmp_path)
    (copy / "classifier" / "vocabulary.csv").unlink()
    with pytest.raises(PackageError, match=r"classifier/vocabulary\.csv: missing, but the manifest .* lists it"):
        verify(copy)
    (copy / MANIFEST).unlink()
    assert not is_package(copy)
    with pytest.raises(PackageError, match="manifest.json: missing"):
        read_manifest(copy)


def test_another_language_model_or_format_is_refused(package, tmp_path):
    copy = _copy(package, tmp_path)
    manifest = json.loads((copy / MANIFEST).read_text())
    (copy / MANIFEST).write_text(
        json.dumps({**manifest, "language_model": {**manifest["language_model"], "sha256": "0" * 64}})
    )
    with pytest.raises(PackageError, match="context settings were tuned with the language model of sha256 0000"):
        verify(copy)
    (copy / MANIFEST).write_text(json.dumps({**manifest, "format": 99}))
    with pytest.raises(PackageError, match="format 99"):
        verify(copy)


def test_no_shipped_model_is_a_clear_error_telling_to_pass_model(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(config, "SHIPPED_MODEL_DIR", tmp_path / "kuzushiji-reader-1")
    with pytest.raises(NoShippedModelError, match="no model is shipped .* pass --model"):
        choose_page_model()
    with pytest.raises(NoShippedModelError):
        training_folder(SHIPPED, "detector")
    from kuzushiji_tf.cli import recognize

    page = tmp_path / "page.jpg"
    page.write_bytes(page_bytes())
    assert recognize.main([str(page), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("recognize: error: no model is shipped") and err.count("\n") == 1
    assert isinstance(NoShippedModelError("x"), KuzushijiError) and isinstance(NoShippedModelError("x"), ValueError)


@pytest.mark.slow
def test_the_default_is_the_shipped_model_and_model_takes_precedence(shipped, shared_cache, tiny_recognizer, tmp_path):
    choice = choose_page_model()
    assert choice.path.parents[2] == shared_cache / "pretrained"
    assert (choice.path / "saved_model.pb").is_file() and choice.path.parts[-2:] == ("kuzushiji_page", "1")
    assert choice.line.startswith("model: shipped kuzushiji-reader-1 (float16 weights, SavedModel rebuilt in ")
    assert choose_page_model(SHIPPED).path == choice.path
    # --model wins, and an export lying in saved_models/ is never picked up unless --models-dir names it.
    given = choose_page_model(str(tiny_recognizer))
    assert given.path == tiny_recognizer and given.line == f"model: {tiny_recognizer} (--model)"
    newest = choose_page_model(models_dir=tiny_recognizer.parent.parent)
    assert newest.path == tiny_recognizer and "newest version under --models-dir" in newest.line
    # A package given as --model is rebuilt like the shipped one.
    assert choose_page_model(str(shipped)).path == choice.path
    # The export carries the package's options.
    from kuzushiji_tf.recognition.contract import read_options_asset, read_vocabulary_asset

    options = read_options_asset(choice.path)
    assert (options.short_side, options.temperature, options.beam) == (128, 1.5, 3)
    assert read_vocabulary_asset(choice.path) == TINY_VOCABULARY


@pytest.mark.slow
def test_recognize_with_the_default_model_writes_outputs(shipped, tmp_path, capsys):
    from kuzushiji_tf.cli import recognize

    (tmp_path / "scans").mkdir()
    (tmp_path / "scans" / "page.jpg").write_bytes(page_bytes())
    out = tmp_path / "out"
    assert recognize.main([str(tmp_path / "scans"), "--out", str(out), "--quiet", "--formats", "txt,json,page"]) == 0
    captured = capsys.readouterr()
    assert "model: shipped kuzushiji-reader-1 (float16 weights, SavedModel rebuilt in " in captured.err
    record = json.loads((out / "page.jpg.json").read_text(encoding="utf-8"))
    assert record["characters"] and {c["char"] for c in record["characters"]} <= {char for _, char in TINY_VOCABULARY}
    assert (
        (out / "page.jpg.txt").is_file() and (out / "page.jpg.page.xml").is_file() and (out / "summary.csv").is_file()
    )


@pytest.mark.slow
def test_transcribe_and_visualize_use_the_shipped_model_unless_given_model(shipped, tiny_recognizer, tmp_path, capsys):
    from kuzushiji_tf.cli import transcribe, visualize

    page = tmp_path / "page.jpg"
    page.write_bytes(page_bytes())
    assert transcribe.main([str(page), "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)[0]["characters"]  # stdout is the data alone; the model line goes to stderr
    assert "\nmodel: shipped kuzushiji-reader-1 " in "\n" + captured.err  # after the one-time build line, if any
    assert visualize.main(["--image", str(page), "--out", str(tmp_path / "page.png")]) == 0
    assert "model: shipped kuzushiji-reader-1 " in capsys.readouterr().err and (tmp_path / "page.png").is_file()
    assert transcribe.main([str(page), "--model", str(tiny_recognizer)]) == 0
    assert capsys.readouterr().err == f"model: {tiny_recognizer} (--model)\n"


def test_the_cache_is_built_once_and_a_changed_manifest_rebuilds(package, trained, tmp_path, monkeypatch):
    copy = _copy(package, tmp_path)
    monkeypatch.setattr(config, "SHIPPED_MODEL_DIR", copy)
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path / "cache"))
    built = []  # what was logged: each build announces itself before it starts
    first = Path(training_folder(SHIPPED, "classifier", log=built.append))
    assert len([line for line in built if line.startswith("building")]) == 1
    assert built[0].startswith(
        f"building the shipped model kuzushiji-reader-1's classifier folder into {first} (once, about "
    )
    assert {p.name for p in first.iterdir()} == {"model.keras", "config.json", "vocabulary.csv"}
    saved = json.loads((first / "config.json").read_text())
    assert saved["task"] == "classifier" and saved["model"]["input_size"] == 32 and saved["model"]["alpha"] == 0.5
    from kuzushiji_tf.models.saved_models import load_model

    rebuilt = load_model(first)
    for variable in trained[1].weights:  # the trained weights, through float16 for the kernels
        stored = np.asarray(variable.numpy())
        expected = stored.astype(np.float16).astype(np.float32) if stored.ndim >= 2 else stored
        np.testing.assert_array_equal(next(v for v in rebuilt.weights if v.path == variable.path).numpy(), expected)
    built.clear()
    assert Path(training_folder(SHIPPED, "classifier", log=built.append)) == first
    assert not [line for line in built if line.startswith("building")]  # the second use builds nothing
    # A new manifest (another package under the same name) is a new cache key: rebuilt, the old one left alone.
    manifest = json.loads((copy / MANIFEST).read_text())
    (copy / MANIFEST).write_text(json.dumps({**manifest, "created": "2027-01-01T00:00:00Z"}, indent=2))
    second = Path(training_folder(SHIPPED, "classifier", log=built.append))
    assert second != first and second.parent.name != first.parent.name and (first / "model.keras").is_file()
    assert [line for line in built if line.startswith("building")]


def test_two_builders_at_once_build_once_and_a_lost_race_loses_nothing(tmp_path, monkeypatch):
    target = tmp_path / "cache" / "thing"
    calls, together = [], []

    def build(tmp: Path) -> Path:
        calls.append(tmp)
        if together:  # both builders inside build() at once: the race is certain
            together[0].wait(timeout=10)
        time.sleep(0.3)
        (tmp / "done").write_text("yes")
        return tmp

    def two_at_once(folder: Path) -> list[Path]:
        results = []

        def run():
            complete = lambda f: (f / "done").is_file()  # noqa: E731
            results.append(cache_module.build_once(folder, build, complete=complete, announce="", log=print))

        threads = [threading.Thread(target=run) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return results

    assert two_at_once(target) == [target, target] and len(calls) == 1 and (target / "done").read_text() == "yes"
    # Without the lock (another machine on a shared disk): both build, the loser's rename fails and its copy
    # is dropped; the winner's folder stays whole and no temporary folder is left.
    monkeypatch.setattr(cache_module, "fcntl", None)
    together.append(threading.Barrier(2))
    other = tmp_path / "cache" / "other"
    assert two_at_once(other) == [other, other] and len(calls) == 3 and (other / "done").read_text() == "yes"
    assert sorted(p.name for p in other.parent.iterdir() if not p.name.endswith(".lock")) == ["other", "thing"]


@pytest.mark.slow
def test_shipped_serves_as_a_training_folder_for_init_detector_and_classifier(
    shipped, tiny_split_records, tmp_path, capsys
):
    from kuzushiji_tf.cli import measure_real, train

    detector = Path(training_folder(SHIPPED, "detector"))
    assert (detector / "model.keras").is_file() and json.loads((detector / "config.json").read_text())[
        "task"
    ] == "detector"
    # --init shipped: the classifier fine-tunes from the shipped weights, its architecture from their config.
    out = tmp_path / "cls"
    flags = ["--task", "classifier", "--records", str(tiny_split_records), "--out", str(out), "--init", SHIPPED]
    flags += ["--epochs", "1", "--batch-size", "4", "--crops-per-epoch", "8", "--eval-every", "1"]
    assert train.main(flags) == 0
    captured = capsys.readouterr()
    classifier = Path(training_folder(SHIPPED, "classifier"))
    assert f"initial weights from {classifier / 'model.keras'}" in captured.out
    assert "classifier: shipped kuzushiji-reader-1, rebuilt in" in captured.err
    assert json.loads((out / "config.json").read_text())["model"]["alpha"] == 0.5
    # --detector shipped in kuzushiji-measure-real (its short side from the rebuilt config.json).
    flags = ["--detector", SHIPPED, "--short-side", "128", "--json", str(tmp_path / "real.json"), "--quiet"]
    assert measure_real.main(flags) == 0
    figures = json.loads((tmp_path / "real.json").read_text())
    assert figures["detector"]["model"] == str(detector) and figures["label"] == SHIPPED


def test_the_beam_workers_rebuild_the_shipped_model_by_name(shipped, monkeypatch):
    pytest.importorskip("apache_beam")
    from kuzushiji_tf.beam_recognition.model_handler import local_model_folder

    monkeypatch.setattr(resolve_module, "package_export", lambda manifest, backend, log: Path("/built") / backend)
    assert local_model_folder(SHIPPED) == Path("/built/auto")
    assert local_model_folder(str(shipped), "onnx") == Path("/built/onnx")
    assert local_model_folder("/some/export/1") == Path("/some/export/1")


def test_the_shipped_folder_is_complete_and_within_its_size():
    """The real shipped model, once the maintainer adds it: every listed file present with its sha256, none
    unlisted, its name and version those of config.py, and at most SHIPPED_MODEL_MAX_BYTES in all."""
    folder = Path(config.SHIPPED_MODEL_DIR)
    if not is_package(folder):
        pytest.skip(f"no model is shipped yet: {folder} holds no {MANIFEST} (the maintainer adds the release model)")
    manifest = verify(folder)
    on_disk = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()} - {MANIFEST}
    assert on_disk == set(manifest.files)
    assert (manifest.name, manifest.version) == (config.SHIPPED_MODEL_NAME, config.SHIPPED_MODEL_VERSION)
    total = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    assert total <= config.SHIPPED_MODEL_MAX_BYTES, f"{folder}: {total / 1e6:.1f} MB"


def test_float32_packages_and_an_existing_package_is_replaced_only_with_overwrite(trained, tmp_path, capsys):
    _, _, det_dir, cls_dir, _ = trained
    out = tmp_path / "pkg"
    flags = ["--detector", str(det_dir), "--classifier", str(cls_dir), "--out", str(out)]
    assert package_model.main(flags + ["--float32", "--name", "my-reader", "--version", "3"]) == 0
    manifest = verify(out)
    assert (manifest.label, manifest.values["weights"]) == ("my-reader-3", "float32")
    with np.load(out / "detector" / "weights.npz", allow_pickle=False) as stored:
        assert {stored[name].dtype for name in stored.files} == {np.dtype(np.float32)}
    printed = capsys.readouterr().out
    assert "detector/weights.npz" in printed and "wrote my-reader-3 (float32 weights" in printed
    assert package_model.main(flags) == 2
    assert "already holds files; pass --overwrite" in capsys.readouterr().err
    assert verify(out).label == "my-reader-3"  # untouched
    assert package_model.main(flags + ["--overwrite"]) == 0
    assert verify(out).values["weights"] == "float16" and not list(tmp_path.glob(".pkg.*"))
