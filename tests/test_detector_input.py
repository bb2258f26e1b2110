"""Detector input views: exact crops with the centre-inside rule, boxes following resizes, seeded
randomness, augmentation that leaves boxes alone, and one batch end to end from a tiny Kaggle folder."""

import numpy as np
import pytest
import tensorflow as tf

from conftest import TINY_PAGES, make_kaggle_dir
from kuzushiji_tf.data import detector_input, image_ops
from kuzushiji_tf.data.detector_input import crop_page, detector_dataset, eval_view, train_view, with_targets
from kuzushiji_tf.data.record_images import PAGE_JPEG_QUALITY, encode_jpeg
from kuzushiji_tf.data.records import RecordOptions, build_records
from kuzushiji_tf.structures import HEATMAP, INDICES, MASK, OFFSET, SIZE

# Page 100 high x 80 wide; the crop window is y0=20, x0=10, 50 high, 40 wide (x 10..50, y 20..70).
WINDOW = tf.constant([20, 10, 50, 40])
PAGE_BOXES = np.array(
    [
        [20.0, 30.0, 30.0, 40.0],  # inside                         -> kept as [10, 10, 20, 20]
        [40.0, 60.0, 60.0, 76.0],  # centre (50, 68) on the x edge  -> dropped (half-open window)
        [44.0, 62.0, 54.0, 74.0],  # centre (49, 68), pokes out      -> kept, clipped to [34, 42, 40, 50]
        [0.0, 0.0, 18.0, 30.0],  # centre (9, 15): overlaps only   -> dropped
        [5.0, 15.0, 15.0, 25.0],  # centre (10, 20) on the near corner -> kept, clipped to [0, 0, 5, 5]
    ],
    np.float32,
)


def page_example(height=100, width=80, boxes=PAGE_BOXES):
    image = np.arange(height * width * 3, dtype=np.int64).reshape(height, width, 3) % 251
    n = len(boxes)
    return {
        "image": tf.constant(image, tf.uint8),
        "boxes": tf.constant(boxes, tf.float32),
        "labels": tf.range(n, dtype=tf.int32),
        "codes": tf.constant([f"U+30{k:02X}" for k in range(n)]),
        "image_id": tf.constant("page"),
        "book": tf.constant("book"),
        "original_size": tf.constant([2 * height, 2 * width]),
        "scale": tf.constant([0.5, 0.5]),
    }


def test_crop_keeps_exactly_the_centre_inside_boxes_shifted_and_clipped():
    example = page_example()
    cropped = crop_page(example, WINDOW)
    np.testing.assert_array_equal(cropped["boxes"].numpy(), [[10, 10, 20, 20], [34, 42, 40, 50], [0, 0, 5, 5]])
    assert cropped["labels"].numpy().tolist() == [0, 2, 4]
    assert [c.decode() for c in cropped["codes"].numpy()] == ["U+3000", "U+3002", "U+3004"]
    np.testing.assert_array_equal(cropped["image"].numpy(), example["image"].numpy()[20:70, 10:50])


def test_resize_moves_boxes_with_the_pixels():
    image = np.zeros((40, 32, 3), np.float32)
    image[4:20, 8:24] = 255.0  # box x 8..24, y 4..20
    box = tf.constant([[8.0, 4.0, 24.0, 20.0]])
    resized, boxes = image_ops.resize_with_boxes(tf.constant(image), box, [20, 16])
    np.testing.assert_allclose(boxes.numpy(), [[4.0, 2.0, 12.0, 10.0]])
    pixels = resized.numpy()[..., 0]
    assert resized.dtype == tf.float32 and pixels.shape == (20, 16)
    np.testing.assert_allclose(pixels[3:9, 5:11], 255.0, atol=1e-3)  # inside, one pixel from the edges
    assert pixels[:1].max() < 1e-3 and pixels[11:].max() < 1e-3 and pixels[:, 13:].max() < 1e-3


def test_crop_windows_follow_the_recipe_ranges_and_the_seed():
    size = tf.constant([1800, 1200])
    windows = np.array([image_ops.sample_crop_window(size, tf.constant([7, k])).numpy() for k in range(200)])
    y0, x0, h, w = windows.T
    short, long = np.minimum(h, w), np.maximum(h, w)
    assert short.min() >= 0.35 * 1200 - 1 and short.max() <= 0.65 * 1200 + 1
    assert np.all(long >= short) and np.all(long <= 1.3 * short + 1)
    assert np.all(y0 >= 0) and np.all(y0 + h <= 1800) and np.all(x0 >= 0) and np.all(x0 + w <= 1200)
    assert 60 < np.count_nonzero(h > w) < 140  # the long axis is vertical about half the time
    again = image_ops.sample_crop_window(size, tf.constant([7, 3])).numpy()
    np.testing.assert_array_equal(again, windows[3])


def test_train_view_is_the_seeded_crop_resized_in_range_and_reproducible():
    example, seed = page_example(), tf.constant([3, 4])
    view = train_view(example, seed, input_size=64)
    assert view["image"].shape == (64, 64, 3) and view["image"].dtype == tf.float32
    assert 0.0 <= view["image"].numpy().min() and view["image"].numpy().max() <= 255.0
    assert "scale" not in view and "original_size" not in view
    crop_seed = tf.random.split(tf.cast(seed, tf.int64), 2)[0]
    y0, x0, h, w = image_ops.sample_crop_window([100, 80], crop_seed).numpy()
    expected, _ = image_ops.crop_boxes(example["boxes"], [y0, x0, h, w])
    np.testing.assert_allclose(view["boxes"].numpy(), expected.numpy() * [64 / w, 64 / h, 64 / w, 64 / h], rtol=1e-6)
    again = train_view(example, seed, input_size=64)
    np.testing.assert_array_equal(again["image"].numpy(), view["image"].numpy())
    other = train_view(example, tf.constant([3, 5]), input_size=64)
    assert not np.array_equal(other["image"].numpy(), view["image"].numpy())


def jpeg_page(height=100, width=80):
    """A smooth-but-busy page encoded as the record builder does (OpenCV, 4:2:0 chroma)."""
    rng = np.random.default_rng(1)
    steps = rng.uniform(-12, 12, (height, width, 3)).cumsum(axis=1) + 128
    return encode_jpeg(np.clip(steps, 0, 255).astype(np.uint8), PAGE_JPEG_QUALITY)


def test_jpeg_window_decode_is_the_whole_page_decode_sliced():
    data = tf.constant(jpeg_page())
    whole = tf.io.decode_jpeg(data, channels=3).numpy()
    np.testing.assert_array_equal(image_ops.image_size(data).numpy(), [100, 80])
    # Windows on each edge of the page and on the 16 px iMCU grid, where decode_and_crop_jpeg alone
    # would upsample the chroma of the window's first / last column as if it were the image's edge.
    windows = [
        [20, 10, 50, 40],
        [0, 0, 100, 80],
        [0, 16, 33, 32],
        [16, 32, 84, 48],
        [37, 49, 63, 31],
        [5, 64, 40, 16],
        [99, 79, 1, 1],
    ]
    windows += [image_ops.sample_crop_window([100, 80], tf.constant([2, k])).numpy() for k in range(20)]
    for y0, x0, h, w in windows:
        window = tf.constant([y0, x0, h, w])
        np.testing.assert_array_equal(image_ops.crop_image(data, window).numpy(), whole[y0 : y0 + h, x0 : x0 + w])


def test_train_view_from_jpeg_bytes_is_the_view_of_the_decoded_page():
    data = tf.constant(jpeg_page())
    encoded = {**page_example(), "image": data}
    decoded = {**page_example(), "image": tf.io.decode_jpeg(data, channels=3)}
    for k in range(8):
        seed = tf.constant([6, k])
        fast, plain = train_view(encoded, seed, input_size=64), train_view(decoded, seed, input_size=64)
        for key in ("image", "boxes", "labels"):
            np.testing.assert_array_equal(fast[key].numpy(), plain[key].numpy())


def augment_every_branch(image, seed):
    """The earlier `image_ops.augment`: every branch computed, selected arithmetically. It pins the
    draws and decisions the tf.cond version must keep."""
    seeds = tf.random.split(tf.cast(seed, tf.int64), 8)

    def uniform(s, shape=(), low=0.0, high=1.0):
        return tf.random.stateless_uniform(shape, s, low, high)

    fire, pick = uniform(seeds[0], [3]) < 0.5, uniform(seeds[1], [2]) < 0.5
    shift = uniform(seeds[2], [3], -image_ops.RGB_SHIFT_LIMIT, image_ops.RGB_SHIFT_LIMIT)
    gray = tf.tile(tf.image.rgb_to_grayscale(image), [1, 1, 3])
    image = tf.where(fire[0], tf.where(pick[0], image + shift, gray), image)
    alpha = 1.0 + uniform(seeds[3], (), -image_ops.CONTRAST_LIMIT, image_ops.CONTRAST_LIMIT)
    beta = 255.0 * uniform(seeds[4], (), -image_ops.BRIGHTNESS_LIMIT, image_ops.BRIGHTNESS_LIMIT)
    mean = tf.reduce_mean(image)
    image = tf.where(fire[1], (image - mean) * alpha + mean + beta, image)
    std = uniform(seeds[5], (), *image_ops.NOISE_STD_RANGE)
    noisy = image + std * tf.random.stateless_normal(tf.shape(image), seeds[6])
    image = tf.where(fire[2], tf.where(pick[1], noisy, image_ops.coarse_dropout(image, seeds[7])), image)
    return tf.clip_by_value(image, 0.0, 255.0)


def test_augment_computes_only_the_fired_groups_with_the_same_draws():
    image = tf.constant(np.random.default_rng(2).uniform(0, 255, (40, 56, 3)), tf.float32)
    graph = tf.function(image_ops.augment)
    for k in range(40):
        seed = tf.constant([8, k])
        expected = augment_every_branch(image, seed).numpy()
        # Shift and brightness/contrast are fused into one affine pass: equal up to float rounding.
        np.testing.assert_allclose(image_ops.augment(image, seed).numpy(), expected, atol=1e-3)
        np.testing.assert_allclose(graph(image, seed).numpy(), expected, atol=1e-3)


def test_page_without_characters_gives_empty_targets():
    example = page_example(boxes=np.zeros((0, 4), np.float32))
    view = with_targets(train_view(example, tf.constant([0, 0]), input_size=32), (8, 8), max_chars=4)
    assert view["boxes"].shape == (0, 4) and view["labels"].shape == (0,)
    assert not np.any(view[HEATMAP].numpy()) and view[MASK].numpy().tolist() == [0, 0, 0, 0]


def test_augmentation_changes_pixels_but_not_boxes(monkeypatch):
    example = page_example()
    seeds = [tf.constant([1, k]) for k in range(12)]
    augmented = [train_view(example, s, input_size=64) for s in seeds]
    monkeypatch.setattr(image_ops, "augment", lambda image, seed: image)
    plain = [train_view(example, s, input_size=64) for s in seeds]
    changed = 0
    for a, p in zip(augmented, plain):
        np.testing.assert_array_equal(a["boxes"].numpy(), p["boxes"].numpy())
        changed += not np.allclose(a["image"].numpy(), p["image"].numpy())
    assert changed >= 6  # 1 - 0.5^3 of the views are augmented


def test_augment_members():
    image = tf.constant(np.random.default_rng(0).uniform(20, 230, (32, 48, 3)), tf.float32)
    outputs = [image_ops.augment(image, tf.constant([5, k])).numpy() for k in range(64)]
    assert all(o.min() >= 0.0 and o.max() <= 255.0 for o in outputs)
    assert any(np.array_equal(o[..., 0], o[..., 1]) and np.array_equal(o[..., 1], o[..., 2]) for o in outputs)
    assert any(np.array_equal(o, image.numpy()) for o in outputs)  # no group fired
    dropped = image_ops.coarse_dropout(image, tf.constant([0, 1])).numpy()
    rows, cols = np.nonzero(np.all(dropped == 0, axis=2))
    hole = (rows.max() - rows.min() + 1, cols.max() - cols.min() + 1)
    assert len(rows) == hole[0] * hole[1] and 0.05 * 32 - 1 <= hole[0] <= 0.2 * 32 + 1  # one rectangle
    np.testing.assert_array_equal(
        np.delete(dropped.reshape(-1, 3), rows * 48 + cols, 0),
        np.delete(image.numpy().reshape(-1, 3), rows * 48 + cols, 0),
    )


def test_eval_view_scales_page_and_boxes_to_multiples_of_32():
    example = page_example(height=150, width=100, boxes=np.array([[10, 20, 30, 50]], np.float32))
    view = eval_view(example, short_side=64)
    assert view["image"].shape == (96, 64, 3)  # 150 x 0.64 = 96
    np.testing.assert_allclose(view["boxes"].numpy(), [[6.4, 12.8, 19.2, 32.0]], rtol=1e-6)
    np.testing.assert_allclose(view["scale"].numpy(), [0.5 * 96 / 150, 0.5 * 64 / 100], rtol=1e-6)
    targets = with_targets(view, max_chars=4)
    assert targets[HEATMAP].shape == (24, 16, 1) and targets[MASK].numpy().tolist() == [1, 0, 0, 0]
    assert targets[INDICES].numpy()[0] == 5 * 16 + 3  # centre (12.8, 22.4) px -> cell (3, 5)


def test_dataset_arguments_are_checked(tmp_path):
    with pytest.raises(ValueError, match="batch_size=2"):
        detector_dataset(tmp_path, "train", training=False, batch_size=2)
    with pytest.raises(ValueError, match="input_size .* received 100"):
        detector_dataset(tmp_path, "train", training=True, batch_size=2, input_size=100)


@pytest.fixture(scope="module")
def tiny_records(tmp_path_factory):
    root = make_kaggle_dir(tmp_path_factory.mktemp("kaggle") / "kaggle")
    out = tmp_path_factory.mktemp("records") / "records"
    build_records(root, out, RecordOptions(full_data=True), workers=1, progress=False)
    return out


def test_one_training_batch_end_to_end(tiny_records):
    dataset = detector_dataset(
        tiny_records,
        "train",
        training=True,
        batch_size=3,
        input_size=64,
        max_chars=16,
        seed=0,
        num_parallel_calls=1,
        shuffle_buffer=8,
    )
    images, targets = next(iter(dataset))
    assert images.shape == (3, 64, 64, 3) and images.dtype == tf.float32
    assert 0.0 <= float(tf.reduce_min(images)) and float(tf.reduce_max(images)) <= 255.0
    shapes = {key: tuple(value.shape) for key, value in targets.items()}
    assert shapes == {HEATMAP: (3, 16, 16, 1), SIZE: (3, 16, 2), OFFSET: (3, 16, 2), INDICES: (3, 16), MASK: (3, 16)}
    heatmap = targets[HEATMAP].numpy().reshape(3, -1)
    for b in range(3):
        real = targets[MASK].numpy()[b] == 1
        assert np.all(heatmap[b, targets[INDICES].numpy()[b][real]] == 1.0)
        assert np.count_nonzero(heatmap[b] == 1.0) == np.unique(targets[INDICES].numpy()[b][real]).size


def test_eval_pages_end_to_end(tiny_records):
    dataset = detector_dataset(
        tiny_records, "train", training=False, batch_size=1, eval_short_side=64, include_meta=True
    )
    seen = {}
    for images, targets, meta in dataset:
        image_id = meta["image_id"].numpy()[0].decode()
        assert images.shape == (1, 96, 64, 3)  # 120 x 180 pages -> short side 64
        assert targets[HEATMAP].shape == (1, 24, 16, 1)
        chars = TINY_PAGES[image_id]
        assert targets[MASK].numpy().sum() == len(chars) <= detector_input.DEFAULT_EVAL_MAX_CHARS
        original = np.array([[x, y, x + w, y + h] for _, x, y, w, h in chars], np.float32).reshape(-1, 4)
        scale_y, scale_x = meta["scale"].numpy()[0]
        np.testing.assert_allclose(meta["boxes"].numpy()[0], original * [scale_x, scale_y, scale_x, scale_y], atol=1e-3)
        seen[image_id] = len(chars)
    assert seen.keys() == TINY_PAGES.keys()


def test_training_crops_are_antialiased_only_when_shrunk_below_half():
    stripes = np.zeros([200, 200, 3], np.uint8)
    stripes[::2] = 255  # 1-px lines: plain bilinear at 0.45x aliases them, antialiasing greys them out
    boxes = tf.constant([[10.0, 20.0, 50.0, 100.0]])
    for size, antialiased in ((90, True), (100, False), (150, False)):
        image, moved = image_ops.resize_with_boxes(stripes, boxes, [size, size], antialias_below=0.5)
        expected = tf.image.resize(stripes, [size, size], method="bilinear", antialias=antialiased)
        np.testing.assert_allclose(image.numpy(), expected.numpy(), atol=1e-3)
        np.testing.assert_allclose(moved.numpy(), boxes.numpy() * size / 200, rtol=1e-6)
    shrunk, _ = image_ops.resize_with_boxes(stripes, boxes, [90, 90], antialias_below=0.5)
    assert shrunk.numpy()[5:-5, 5:-5].std() < 30  # greyed out, not aliased into bands
    whole, _ = image_ops.resize_with_boxes(stripes, boxes, [150, 150])  # default: every shrink antialiased
    np.testing.assert_allclose(whole.numpy(), tf.image.resize(stripes, [150, 150], antialias=True).numpy(), atol=1e-3)


def test_boxes_labelled_uncertain_are_not_positives_in_the_train_targets():
    from kuzushiji_tf.data.schema import UNCERTAIN_LABEL

    boxes = np.array([[8, 8, 24, 24], [40, 40, 56, 56]], np.float32)
    example = {**page_example(height=64, width=64, boxes=boxes)}
    sure = with_targets(example, (16, 16), max_chars=4)
    unsure = with_targets({**example, "labels": tf.constant([UNCERTAIN_LABEL, 3], tf.int32)}, (16, 16), max_chars=4)
    np.testing.assert_array_equal(unsure[HEATMAP].numpy(), sure[HEATMAP].numpy())
    assert sure[MASK].numpy().tolist() == [1, 1, 0, 0] and unsure[MASK].numpy().tolist() == [1, 0, 0, 0]
    assert unsure[INDICES].numpy()[0] == 12 * 16 + 12  # the second box's centre (48, 48) px
