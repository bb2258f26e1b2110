"""The classifier's input: where the centre view puts a known square, the train views' random draws,
seeded determinism and the mixing ratio of training and pseudo-labelled crops. `test_crop_train_view.py`
covers the layer that applies the draws."""

import cv2
import numpy as np
import pytest
import tensorflow as tf

from kuzushiji_tf.data import classifier_input as ci
from kuzushiji_tf.data import image_ops, schema

STORED = 144


def square_crop(side=48, centre=(72, 72), stored=STORED) -> np.ndarray:
    """A paper-coloured stored crop with a dark square of `side` px centred at `centre` (y, x)."""
    image = np.full((stored, stored, 3), 230, np.uint8)
    y0, x0 = centre[0] - side // 2, centre[1] - side // 2
    image[y0 : y0 + side, x0 : x0 + side] = 20
    return image


def dark_extent(image: np.ndarray):
    """(y0, y1, x0, x1) of the pixels darker than mid-grey, ends exclusive."""
    ys, xs = np.nonzero(image[..., 0] < 125)
    return ys.min(), ys.max() + 1, xs.min(), xs.max() + 1


def write_crops(folder, split, labels, stored=40, index=0, count=1):
    """One crop shard of solid-colour crops (grey level 10 x label), the schema's crop records."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"crops-{split}-{index:05d}-of-{count:05d}.tfrecord"
    with tf.io.TFRecordWriter(str(path)) as writer:
        for i, label in enumerate(labels):
            image = np.full((stored, stored, 3), 10 * label + 20, np.uint8)
            jpeg = cv2.imencode(".jpg", image)[1].tobytes()
            writer.write(
                schema.encode_crop(
                    image_jpeg=jpeg,
                    label=label,
                    code=f"U+30{40 + label:02X}",
                    image_id=f"page{i}",
                    book="book",
                    source_box=[0, 0, 10, 10],
                    index=i,
                )
            )
    return folder


def test_centre_view_takes_the_central_1_2_of_1_4():
    view = ci.centre_view({"image": tf.constant(square_crop()), "label": tf.constant(0)}, 112)["image"].numpy()
    y0, y1, x0, x1 = dark_extent(view)
    side = 48 * 112 / (STORED * 1.2 / 1.4)  # 43.6 px
    assert abs((y1 - y0) - side) <= 1.0 and abs((x1 - x0) - side) <= 1.0
    assert (y0 + y1) / 2 == pytest.approx(56, abs=0.5) and (x0 + x1) / 2 == pytest.approx(56, abs=0.5)


def test_a_window_maps_the_square_where_its_geometry_says():
    window = tf.constant([0.55, 0.45, 0.8, 0.9])  # (cy, cx, h, w), fractions of the stored side
    view = image_ops.remap(square_crop(), ci.window_coords(window, [STORED, STORED], 112)).numpy()
    y0, y1, x0, x1 = dark_extent(view)
    # The square spans 48/144 .. 96/144 of the stored side; the window starts at cy - h/2 (0.15) and cx - w/2.
    assert y0 == pytest.approx((1 / 3 - 0.15) / 0.8 * 112, abs=1.0)
    assert y1 == pytest.approx((2 / 3 - 0.15) / 0.8 * 112, abs=1.0)
    assert x0 == pytest.approx((1 / 3 - 0.0) / 0.9 * 112, abs=1.0)
    assert x1 == pytest.approx((2 / 3 - 0.0) / 0.9 * 112, abs=1.0)


def test_train_view_draws_stay_in_the_recipe_ranges():
    view = {k: v.numpy() for k, v in ci.sample_view_params(400, tf.constant([3, 1]), 112).items()}
    centre, size = view["window"][:, :2], view["window"][:, 2:]
    assert size.min() >= 1.1 / 1.4 - 1e-6 and size.max() <= 1.3 / 1.4 + 1e-6
    assert size.max() - size.min() > 0.12  # the range is covered, per axis independently
    assert np.abs(centre - 0.5).max() <= ci.MAX_SHIFT + 1e-6 and np.abs(centre - 0.5).max() > 0.03
    assert (centre - size / 2 >= -1e-6).all() and (centre + size / 2 <= 1 + 1e-6).all()
    # Each group fires for about half the crops (AUGMENT_PROBABILITY); the warps equally often.
    assert np.bincount(view["warp"], minlength=4)[0] / 400 == pytest.approx(0.5, abs=0.08)
    assert np.bincount(view["warp"], minlength=4)[1:].min() > 40
    for fired in (view["rgb_shift"][:, 0] != 0, view["contrast"] != 1, view["noise_std"] > 0, view["hole"][:, 2] > 0):
        assert fired.mean() == pytest.approx(0.5, abs=0.08)
    assert np.abs(view["rgb_shift"]).max() <= 20 and np.abs(view["contrast"] - 1).max() <= 0.2
    assert np.abs(view["brightness"]).max() <= 0.2 * 255 and (view["brightness"][view["contrast"] == 1] == 0).all()
    assert np.abs(np.degrees(view["angle"])).max() <= 5.0 + 1e-4 and np.abs(view["grid_stretch"]).max() <= 0.3
    fired = view["noise_std"] > 0
    assert view["noise_std"][fired].min() >= 10**0.5 - 1e-4 and view["noise_std"].max() <= 50**0.5 + 1e-4
    hole = view["hole"][view["hole"][:, 2] > 0]  # (y0, x0, h, w): 5-20 % of the side, inside the view
    assert hole[:, 2:].min() >= round(0.05 * 112) and hole[:, 2:].max() <= round(0.2 * 112)
    assert (hole[:, :2] >= 0).all() and (hole[:, :2] + hole[:, 2:] <= 112).all()
    again = ci.sample_view_params(400, tf.constant([3, 1]), 112)
    for key, value in again.items():
        np.testing.assert_array_equal(value.numpy(), view[key])


def test_dataset_batches_labels_and_eval_order(tmp_path):
    records = write_crops(tmp_path / "r", "val", [0, 1, 2, 3, 4])
    images, targets = next(iter(ci.classifier_dataset(records, "val", training=False, batch_size=4, input_size=32)))
    assert images.shape == (4, 32, 32, 3) and images.dtype == tf.float32
    assert targets[ci.LABEL].dtype == tf.int32 and targets[ci.LABEL].numpy().tolist() == [0, 1, 2, 3]
    np.testing.assert_allclose(images.numpy().mean(axis=(1, 2, 3)), [20, 30, 40, 50], atol=2.0)  # grey 10 x label + 20
    batches = list(ci.classifier_dataset(records, "val", training=False, batch_size=4, input_size=32))
    assert [b[1][ci.LABEL].shape[0] for b in batches] == [4, 1]  # each crop once, last batch partial
    np.testing.assert_array_equal(ci.crop_labels(records, "val"), [0, 1, 2, 3, 4])


def test_training_is_seeded_and_mixes_pseudo_crops_two_to_one(tmp_path):
    records = write_crops(tmp_path / "r", "train", [0] * 8)
    pseudo = write_crops(tmp_path / "p", "test", [1] * 8, stored=30)  # any split name; another stored size

    def first_batches(seed, n):
        dataset = ci.classifier_dataset(
            records,
            "train",
            training=True,
            batch_size=50,
            input_size=32,
            seed=seed,
            extra_records=pseudo,
            extra_weight=0.5,
            num_parallel_calls=2,
            stored_size=40,
        )
        return [(b[0], b[1][ci.LABEL].numpy()) for _, b in zip(range(n), dataset)]

    a, b = first_batches(7, 2), first_batches(7, 2)
    for (inputs_a, labels_a), (inputs_b, labels_b) in zip(a, b):
        assert inputs_a[ci.CROPS].dtype == tf.uint8 and inputs_a[ci.CROPS].shape == (50, 40, 40, 3)
        np.testing.assert_array_equal(inputs_a[ci.CROPS].numpy(), inputs_b[ci.CROPS].numpy())
        assert inputs_a[ci.VIEW]["window"].shape == (50, 4) and inputs_a[ci.VIEW]["elastic"].shape == (50, 8, 8, 2)
        for key in inputs_a[ci.VIEW]:
            np.testing.assert_array_equal(inputs_a[ci.VIEW][key].numpy(), inputs_b[ci.VIEW][key].numpy())
        np.testing.assert_array_equal(labels_a, labels_b)
        # grey 10 x label + 20: the 30 px pseudo crops were resized to 40, their colour kept
        np.testing.assert_allclose(inputs_a[ci.CROPS].numpy().mean(axis=(1, 2, 3)), 10 * labels_a + 20, atol=1.0)
    first, second = a[0][0][ci.VIEW]["window"].numpy(), a[1][0][ci.VIEW]["window"].numpy()
    assert np.abs(first - second).max() > 0.01  # each batch draws its own views
    labels = np.concatenate([labels for _, labels in first_batches(3, 12)])  # 600 crops, sampled forever
    assert labels.mean() == pytest.approx(1 / 3, abs=0.06)


def test_a_label_outside_the_vocabulary_stops_training(tmp_path):
    records = write_crops(tmp_path / "r", "train", [9, 9])
    dataset = ci.classifier_dataset(records, "train", training=True, batch_size=2, input_size=32, seed=0, num_classes=5)
    with pytest.raises(tf.errors.InvalidArgumentError, match="outside the vocabulary of 5 classes"):
        next(iter(dataset))


def test_too_few_shards_for_the_workers_is_a_clear_error(tmp_path):
    records = write_crops(tmp_path / "r", "train", [0, 1])
    context = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=0, num_replicas_in_sync=2)
    with pytest.raises(FileNotFoundError, match="need at least 2"):
        ci.classifier_dataset(records, "train", training=True, batch_size=2, input_context=context)


def test_empty_pseudo_labels_are_a_clear_error_not_a_hang(tmp_path):
    # A repeated empty dataset never yields: fine-tuning on an empty pseudo-label set used to hang forever.
    records = write_crops(tmp_path / "r", "train", [0, 1])
    pseudo = tmp_path / "p"
    pseudo.mkdir()
    tf.io.TFRecordWriter(str(pseudo / "crops-train-00000-of-00001.tfrecord")).close()
    with pytest.raises(ValueError, match="no records; lower the thresholds of kuzushiji-pseudo-label"):
        ci.classifier_dataset(
            records, "train", training=True, batch_size=2, input_size=32, seed=0, extra_records=pseudo, extra_weight=0.5
        )
