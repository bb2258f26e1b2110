"""The classifier's views and dataset: where a known square lands, value ranges, seeded determinism, the
mixing ratio of training and pseudo-labelled crops, and the warps' geometry."""
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
    image[y0:y0 + side, x0:x0 + side] = 20
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
            writer.write(schema.encode_crop(image_jpeg=jpeg, label=label, code=f"U+30{40 + label:02X}",
                                            image_id=f"page{i}", book="book", source_box=[0, 0, 10, 10], index=i))
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


def test_train_windows_stay_in_the_recipe_range_and_inside_the_crop():
    windows = np.stack([ci.sample_window(tf.constant([i, 3])).numpy() for i in range(300)])
    centre, size = windows[:, :2], windows[:, 2:]
    assert size.min() >= 1.1 / 1.4 - 1e-6 and size.max() <= 1.3 / 1.4 + 1e-6
    assert size.max() - size.min() > 0.12  # the range is covered, per axis independently
    assert np.abs(centre - 0.5).max() <= ci.MAX_SHIFT + 1e-6 and np.abs(centre - 0.5).max() > 0.03
    assert (centre - size / 2 >= -1e-6).all() and (centre + size / 2 <= 1 + 1e-6).all()


def test_train_view_range_determinism_and_variety():
    example = {"image": tf.constant(square_crop()), "label": tf.constant(5)}
    views = [ci.train_view(example, tf.constant([s, 0], tf.int64), 64)["image"].numpy() for s in (1, 1, 2)]
    for view in views:
        assert view.shape == (64, 64, 3) and view.dtype == np.float32
        assert view.min() >= 0.0 and view.max() <= 255.0 and view.max() > 1.0  # 0..255, not normalised
    np.testing.assert_array_equal(views[0], views[1])
    assert np.abs(views[0] - views[2]).mean() > 1.0
    # The square stays roughly centred and sized: 48 px of a 1.1/1.4..1.3/1.4 window at 64 px is 23-27 px,
    # which a grid distortion may stretch by up to 30 %.
    for view in views:
        y0, y1, x0, x1 = dark_extent(view)
        assert 18 <= y1 - y0 <= 36 and 18 <= x1 - x0 <= 36
        assert abs((y0 + y1) / 2 - 32) < 6 and abs((x0 + x1) / 2 - 32) < 6


def test_warps_keep_the_centre_and_stay_near_identity():
    identity = image_ops.identity_coords(112).numpy()
    rotated = image_ops.rotation_coords(112, tf.constant([0, 1])).numpy()
    np.testing.assert_allclose(rotated[55:57, 55:57].mean(axis=(0, 1)), [55.5, 55.5], atol=1e-4)
    corner = np.degrees(np.arctan2(*(rotated[0, 0] - 55.5)) - np.arctan2(*(identity[0, 0] - 55.5)))
    assert 0.01 < abs((corner + 180) % 360 - 180) <= 5.0 + 1e-4
    grid = image_ops.grid_distortion_coords(112, tf.constant([0, 2])).numpy()
    assert (np.diff(grid[:, 0, 0]) > 0).all() and (np.diff(grid[0, :, 1]) > 0).all()  # monotonic, no folds
    assert abs(grid[0, 0, 0] - identity[0, 0, 0]) < 1.0 and abs(grid[-1, 0, 0] - 111) < 1.0  # ends stay
    elastic = image_ops.elastic_coords(112, tf.constant([0, 3])).numpy()
    assert 0.3 < np.abs(elastic - identity).mean() < 4.0
    np.testing.assert_array_equal(image_ops.remap(square_crop(), image_ops.identity_coords(STORED)).numpy(),
                                  square_crop().astype(np.float32))


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
    pseudo = write_crops(tmp_path / "p", "test", [1] * 8)  # any split name: a folder of pseudo-labelled crops

    def first_batches(seed, n):
        dataset = ci.classifier_dataset(records, "train", training=True, batch_size=50, input_size=32, seed=seed,
                                        extra_records=pseudo, extra_weight=0.5, num_parallel_calls=2)
        return [(b[0].numpy(), b[1][ci.LABEL].numpy()) for _, b in zip(range(n), dataset)]

    a, b = first_batches(7, 2), first_batches(7, 2)
    for (images_a, labels_a), (images_b, labels_b) in zip(a, b):
        np.testing.assert_array_equal(images_a, images_b)
        np.testing.assert_array_equal(labels_a, labels_b)
    labels = np.concatenate([labels for _, labels in first_batches(3, 12)])  # 600 crops, sampled forever
    assert labels.mean() == pytest.approx(1 / 3, abs=0.06)


def test_a_label_outside_the_vocabulary_stops_training(tmp_path):
    records = write_crops(tmp_path / "r", "train", [9, 9])
    dataset = ci.classifier_dataset(records, "train", training=True, batch_size=2, input_size=32, seed=0,
                                    num_classes=5)
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
    with pytest.raises(ValueError, match="no records; lower the thresholds of tools/pseudo_label.py"):
        ci.classifier_dataset(records, "train", training=True, batch_size=2, input_size=32, seed=0,
                              extra_records=pseudo, extra_weight=0.5)
