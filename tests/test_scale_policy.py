"""The page recogniser's scale policy (`RecognizerOptions.scale_policy`): its options and their defaults for
older exports, the arithmetic of the short side it picks (numpy and TensorFlow twins), the training
character height it aims at, the export command's --scale, and a page of small characters read larger."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import tensorflow as tf

from conftest import TINY_VOCABULARY, blob_detector, blocks_page, save_training_folders, tiny_page_models
from kuzushiji_tf import config
from kuzushiji_tf.backends.onnx.postprocess import scaled_short_side
from kuzushiji_tf.cli import export as export_tool
from kuzushiji_tf.detection import detect
from kuzushiji_tf.recognition.contract import (
    COUNT,
    OUT_BOXES,
    SHORT_SIDE,
    RecognizerOptions,
    model_short_side,
    read_options_asset,
    scale_bounds,
    write_assets,
)

POLICY = dict(target_char_height=20.0, min_short_side=192, max_short_side=768, tolerance=0.15, min_chars=3)


def boxes_of_heights(heights) -> np.ndarray:
    heights = np.asarray(heights, np.float32)
    return np.stack([np.zeros_like(heights), np.zeros_like(heights), heights / 2, heights], 1)


def choose(heights, page=(1000, 600), short_side=384, **changes) -> int:
    return scaled_short_side(
        boxes_of_heights(heights), page, short_side, **{**POLICY, **changes}, multiple=config.SIZE_MULTIPLE
    )


# --- options ---------------------------------------------------------------------------------------------


def test_an_older_options_file_reads_as_fixed(tmp_path):
    older = {"export_format": 2, "short_side": 384, "det_threshold": 0.3, "cls_threshold": 0.5, "top_k": 5}
    (tmp_path / "assets").mkdir()
    (tmp_path / "assets" / "recognizer.json").write_text(json.dumps(older))
    options = read_options_asset(tmp_path)
    assert options.scale_policy == "fixed" and options.short_side == 384
    assert options.largest_short_side == 384  # IIIF images are fetched at the one short side it reads


def test_auto_options_fill_their_bounds_and_survive_the_json():
    options = RecognizerOptions(short_side=384, scale_policy="auto", target_char_height=22.5)
    assert (options.min_short_side, options.max_short_side) == scale_bounds(384) == (192, 768)
    assert options.largest_short_side == 768
    assert RecognizerOptions.from_dict(json.loads(options.to_json())) == options
    assert scale_bounds(500) == (256, 992)  # multiples of 32
    assert RecognizerOptions(short_side=384, min_short_side=320, max_short_side=1024).max_short_side == 1024
    for bad in (
        dict(scale_policy="adaptive"),
        dict(min_short_side=400),
        dict(min_short_side=640, max_short_side=320),
        dict(target_char_height=0.0),
        dict(scale_min_chars=0),
    ):
        with pytest.raises(ValueError):
            RecognizerOptions(short_side=384, **bad)


# --- the short side it picks -----------------------------------------------------------------------------


def test_the_median_character_is_brought_to_the_target_height():
    # Median 20 px on a 600-px short side: 20 x 600 / 20 = 600 -> 608, the nearest multiple of 32.
    assert choose([10, 20, 30]) == 608
    assert choose([10, 20, 30, 40]) == 608  # the lower median: 20, not 25
    assert choose([60, 60, 60]) == 192  # 200 -> 192, also the lower bound
    assert choose([5, 5, 5]) == 768  # 2400, clipped to the upper bound
    assert choose([24, 24, 24], page=(3000, 500), short_side=256) == 416  # 416.7: the page's short side counts
    assert choose([25, 25, 25], page=(1000, 500), short_side=256) == 384  # 400 = 12.5 x 32: half to even


def test_small_changes_and_few_characters_keep_the_short_side():
    assert choose([28, 28, 28]) == 384  # 428.6 -> 416, 8 % from 384: within the tolerance
    assert choose([26, 26, 26]) == 448  # 461.5 -> 448, 17 % from 384
    assert choose([26, 26, 26], tolerance=0.2) == 384
    assert choose([5, 5]) == 384  # fewer than min_chars boxes say nothing about the script
    assert choose([]) == 384
    assert choose([0, 0, 0]) == 768  # zero-height boxes: as small as can be, not a division by zero


def test_tensorflow_and_numpy_pick_the_same_short_side():
    rng = np.random.default_rng(0)
    for trial in range(200):
        n = int(rng.integers(0, 40))
        boxes = rng.uniform(0, 3000, (n, 4)).astype(np.float32)
        boxes[:, 3] = boxes[:, 1] + rng.lognormal(np.log(rng.uniform(5, 200)), 0.3, n).astype(np.float32)
        page = tuple(int(v) for v in rng.integers(200, 5000, 2))
        short_side = int(rng.choice([256, 384, 512, 500]))
        policy = {**POLICY, "tolerance": float(rng.choice([0.0, 0.15, 0.3]))}
        expected = scaled_short_side(boxes, page, short_side, **policy, multiple=config.SIZE_MULTIPLE)
        found = detect.scaled_short_side(tf.constant(boxes), tf.constant(page), short_side, **policy)
        assert int(found) == expected, trial


# --- what it aims at ------------------------------------------------------------------------------------


def test_training_char_heights_are_those_of_the_training_views(tiny_split_records):
    from kuzushiji_tf.data import pipeline, schema
    from kuzushiji_tf.data.detector_input import train_view, training_char_heights

    medians = training_char_heights(tiny_split_records, input_size=64, views_per_page=12, seed=5)
    expected = []
    files = pipeline.list_shards(tiny_split_records, "pages", "train")
    for index, record in enumerate(pipeline.record_dataset(files)):
        example = schema.decode_page(record, decode_image=False)
        for view in range(12):
            boxes = train_view(example, tf.constant([5, index * 12 + view], tf.int64), 64)["boxes"].numpy()
            if len(boxes):
                expected.append(float(np.median(boxes[:, 3] - boxes[:, 1])))
    assert len(expected) >= 3 and len(medians) == len(expected)
    np.testing.assert_allclose(medians, expected, rtol=1e-4)


def test_export_measures_the_target_on_the_detectors_records_and_writes_the_policy(
    tiny_split_records, tmp_path, monkeypatch
):
    from kuzushiji_tf.backends.tf import export as tf_export
    from kuzushiji_tf.data.detector_input import training_char_heights

    # Only the options matter here: the assets are written, not the graph (other tests export graphs).
    monkeypatch.setattr(
        tf_export,
        "export_page_recognizer",
        lambda detector, classifier, vocabulary, out, options: write_assets(out, vocabulary, options).parent,
    )
    det_dir, cls_dir = save_training_folders(*tiny_page_models(), tmp_path)
    common = ["--detector", str(det_dir), "--classifier", str(cls_dir), "--short-side", "128", "--no-parts"]
    # No config.json beside the detector: the relative default, at half the short side.
    assert export_tool.main([*common, "--out", str(tmp_path / "a" / "1")]) == 0
    options = read_options_asset(tmp_path / "a" / "1")
    assert options.scale_policy == "auto" and options.target_char_height == pytest.approx(config.TRAIN_CHAR_HEIGHT * 64)
    assert (options.min_short_side, options.max_short_side) == (64, 256)
    assert model_short_side(tmp_path / "a" / "1") == 256
    # Its training config names its records and input size: the target is measured on them.
    (det_dir / "config.json").write_text(json.dumps({"records": str(tiny_split_records), "model": {"input_size": 96}}))
    argv = [*common, "--out", str(tmp_path / "b" / "1"), "--max-short-side", "320"]
    assert export_tool.main(argv) == 0
    options = read_options_asset(tmp_path / "b" / "1")
    measured = float(np.median(training_char_heights(tiny_split_records, 96)))
    assert options.target_char_height == pytest.approx(measured) and options.max_short_side == 320
    assert export_tool.main([*common, "--out", str(tmp_path / "c" / "1"), "--scale", "fixed"]) == 0
    assert read_options_asset(tmp_path / "c" / "1").scale_policy == "fixed"
    assert model_short_side(tmp_path / "c" / "1") == 128


# --- a page read at the scale that fits it ---------------------------------------------------------------


def test_small_script_is_read_at_a_larger_short_side_and_large_script_at_a_smaller_one():
    """On-scale blocks are 24 px of a 240-px short side: 12.8 px at short side 128, the target. Blocks of
    12 px are read again larger, blocks of 48 px on a 360-px page smaller; `fixed` reads all at 128."""
    from kuzushiji_tf.backends.tf.page_recognizer import PageRecognizer

    pages = [blocks_page(12), blocks_page(24), blocks_page(48, size=(360, 540))]
    page_sizes = [(360, 240), (360, 240), (540, 360)]
    base = RecognizerOptions(short_side=128, cls_threshold=0.0, max_chars=300, target_char_height=12.8)
    _, classifier = tiny_page_models()
    runs = {}
    for policy in ("fixed", "auto"):
        options = dataclasses.replace(base, scale_policy=policy)
        assert (options.min_short_side, options.max_short_side) == (64, 256)
        recognizer = PageRecognizer(blob_detector(), classifier, [code for code, _ in TINY_VOCABULARY], options)
        runs[policy] = {key: value.numpy() for key, value in recognizer.recognize(tf.constant(pages)).items()}
    assert runs["fixed"][SHORT_SIDE].tolist() == [128, 128, 128]
    small, on_scale, large = runs["auto"][SHORT_SIDE].tolist()
    assert small > 128 and on_scale == 128 and large < 128
    # The choice is the policy's arithmetic on the first pass, which is what `fixed` returns.
    for i, size in enumerate(page_sizes):
        first = runs["fixed"][OUT_BOXES][i, : runs["fixed"][COUNT][i]]
        o = recognizer.options
        chosen = scaled_short_side(
            first,
            size,
            128,
            target_char_height=12.8,
            min_short_side=64,
            max_short_side=256,
            tolerance=o.scale_tolerance,
            min_chars=o.scale_min_chars,
            multiple=config.SIZE_MULTIPLE,
        )
        assert runs["auto"][SHORT_SIDE][i] == chosen
    # Read larger, the small blocks' boxes come out nearer their true 12 px than at the fixed short side.
    heights = {
        policy: np.median(np.diff(run[OUT_BOXES][0, : run[COUNT][0]][:, 1::2], axis=1)) for policy, run in runs.items()
    }
    assert abs(heights["auto"] - 12) < abs(heights["fixed"] - 12)
    np.testing.assert_array_equal(runs["auto"][OUT_BOXES][1], runs["fixed"][OUT_BOXES][1])  # one pass


def test_an_older_saved_model_reads_every_page_at_its_one_short_side():
    """A SavedModel exported before the policy has no `short_side` output: the backend fills in the
    export's, so every caller sees the same keys."""
    from kuzushiji_tf.backends.tf.saved_model import SavedModelPageModel

    model = object.__new__(SavedModelPageModel)
    model.options = RecognizerOptions(short_side=384)
    model.serve = lambda images: {COUNT: tf.constant([2, 0], tf.int32)}
    assert model([b"a", b"b"])[SHORT_SIDE].tolist() == [384, 384]
