"""`CropTrainView`, the classifier's train view on the device: a plain window equals the host's centre
view, drawn views are reproducible and keep the character in place, the warps' geometry, and each pixel
augmentation doing what its parameter says."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from test_classifier_input import STORED, dark_extent, square_crop

from kuzushiji_tf.data import classifier_input as ci
from kuzushiji_tf.models.classifier import CropTrainView
from kuzushiji_tf.models.classifier import crop_train_view as ctv


def plain_view(batch, window=(0.5, 0.5, ci.EVAL_CROP_FRACTION, ci.EVAL_CROP_FRACTION), **changes):
    """View parameters of no warp and no augmentation, with `changes` applied."""
    view = {
        "window": np.tile(np.float32(window), (batch, 1)),
        "warp": np.zeros([batch], np.int32),
        "angle": np.zeros([batch], np.float32),
        "grid_stretch": np.zeros([batch, 2, ci.GRID_STEPS], np.float32),
        "elastic": np.zeros([batch, ci.ELASTIC_GRID, ci.ELASTIC_GRID, 2], np.float32),
        "rgb_shift": np.zeros([batch, 3], np.float32),
        "contrast": np.ones([batch], np.float32),
        "brightness": np.zeros([batch], np.float32),
        "noise_std": np.zeros([batch], np.float32),
        "noise_pick": np.zeros([batch, 3], np.float32),
        "hole": np.zeros([batch, 4], np.float32),
    }
    return {**view, **{key: np.asarray(value, view[key].dtype) for key, value in changes.items()}}


def test_a_plain_window_is_the_centre_view_cut_on_the_host():
    crops = np.stack([square_crop(), square_crop(side=30, centre=(60, 80))])
    device = CropTrainView(112)(crops, plain_view(2)).numpy()
    for crop, view in zip(crops, device):
        host = ci.centre_view({"image": tf.constant(crop)}, 112)["image"].numpy()
        np.testing.assert_allclose(view, host, atol=1e-3)


def test_drawn_views_are_reproducible_in_range_and_keep_the_character_in_place():
    crops = np.stack([square_crop()] * 64)
    layer = CropTrainView(64)
    draws = [ci.sample_view_params(64, tf.constant([s, 0]), 64) for s in (1, 1, 2)]
    views = [layer(crops, d).numpy() for d in draws]
    np.testing.assert_array_equal(views[0], views[1])
    assert np.abs(views[0] - views[2]).mean() > 1.0
    assert np.abs(views[0][1:] - views[0][:1]).mean(axis=(1, 2, 3)).min() > 0.1  # no two crops alike
    holes = np.concatenate([draws[0]["hole"].numpy(), draws[2]["hole"].numpy()]).astype(int)
    for view, (y, x, h, w) in zip(np.concatenate(views[::2]), holes):
        assert view.dtype == np.float32 and view.min() >= 0.0 and view.max() <= 255.0 and view.max() > 1.0
        # 48 px of a 1.1/1.4..1.3/1.4 window at 64 px is 23-27 px, which a grid distortion may stretch by
        # up to 30 %. Its centre moves by the window's shift (<= 0.05 of the stored side, 4.1 px) plus what
        # uneven grid cells move it (a few px). A dropout hole is not ink: painted as paper here.
        view[y : y + h, x : x + w] = 255
        y0, y1, x0, x1 = dark_extent(view)
        assert 16 <= y1 - y0 <= 36 and 16 <= x1 - x0 <= 36
        assert abs((y0 + y1) / 2 - 32) < 9 and abs((x0 + x1) / 2 - 32) < 9


def test_warps_keep_the_centre_and_stay_near_identity():
    identity = ctv.identity_coords(112).numpy()
    rotated = ctv.rotation_coords(112, np.radians(np.float32([4.0])))[0].numpy()
    np.testing.assert_allclose(rotated[55:57, 55:57].mean(axis=(0, 1)), [55.5, 55.5], atol=1e-4)
    corner = np.degrees(np.arctan2(*(rotated[0, 0] - 55.5)) - np.arctan2(*(identity[0, 0] - 55.5)))
    assert abs((corner + 180) % 360 - 180) == pytest.approx(4.0, abs=1e-3)
    stretch = np.random.default_rng(0).uniform(-0.3, 0.3, [1, 2, ci.GRID_STEPS]).astype(np.float32)
    grid = ctv.grid_distortion_coords(112, stretch)[0].numpy()
    assert (np.diff(grid[:, 0, 0]) > 0).all() and (np.diff(grid[0, :, 1]) > 0).all()  # monotonic, no folds
    assert abs(grid[0, 0, 0] - identity[0, 0, 0]) < 1.0 and abs(grid[-1, 0, 0] - 111) < 1.0  # ends stay
    np.testing.assert_allclose(ctv.grid_distortion_coords(112, 0 * stretch)[0], identity, atol=1e-4)
    control = np.random.default_rng(1).normal(0, 0.015 * 112, [1, 8, 8, 2]).astype(np.float32)
    elastic = ctv.elastic_coords(112, control)[0].numpy()
    assert 0.3 < np.abs(elastic - identity).mean() < 4.0
    np.testing.assert_allclose(ctv.elastic_coords(112, 0 * control)[0], identity, atol=1e-5)
    # A view with a warp moves pixels; its square stays where the warp puts the centre.
    crops = np.stack([square_crop()] * 3)
    warped = CropTrainView(112)(
        crops,
        plain_view(
            3,
            warp=[1, 2, 3],
            angle=np.radians([4.0] * 3),
            grid_stretch=np.repeat(stretch, 3, 0),
            elastic=np.repeat(control, 3, 0),
        ),
    ).numpy()
    plain = CropTrainView(112)(crops[:1], plain_view(1)).numpy()[0]
    for view in warped:
        assert np.abs(view - plain).mean() > 0.5
        y0, y1, x0, x1 = dark_extent(view)
        assert abs((y0 + y1) / 2 - 56) < 6 and abs((x0 + x1) / 2 - 56) < 6


def test_pixel_augmentations_do_what_their_parameters_say():
    flat = np.full([1, STORED, STORED, 3], 100, np.uint8)
    layer = CropTrainView(32)

    def view(**changes):
        return layer(np.repeat(flat, 1, 0), plain_view(1, **changes)).numpy()[0]

    np.testing.assert_allclose(view(), 100.0, atol=1e-4)
    np.testing.assert_allclose(view(rgb_shift=[[10, -5, 0]]).mean(axis=(0, 1)), [110, 95, 100], atol=1e-3)
    two_level = np.full([1, STORED, STORED, 3], 100, np.uint8)
    two_level[:, :, STORED // 2 :] = 200  # mean 150: contrast 1.2 spreads the levels to 90 and 210
    spread = layer(two_level, plain_view(1, contrast=[1.2], brightness=[5.0])).numpy()[0]
    assert spread[:, 0].mean() == pytest.approx(90 + 5, abs=0.1) and spread[:, -1].mean() == pytest.approx(
        210 + 5, abs=0.1
    )
    np.testing.assert_allclose(view(brightness=[300.0]), 255.0)  # clipped
    holed = view(hole=[[4, 10, 6, 8]])  # (y0, x0, h, w)
    assert (holed[4:10, 10:18] == 0).all() and (
        np.delete(np.delete(holed, range(4, 10), 0), range(10, 18), 1) == 100
    ).all()
    assert (holed == 0).sum() == 6 * 8 * 3
    noisy = view(noise_std=[5.0], noise_pick=[[0.3, 0.5, 0.1]])
    assert (noisy - 100).std() == pytest.approx(5.0, rel=0.1) and abs((noisy - 100).mean()) < 0.5
    np.testing.assert_array_equal(noisy, view(noise_std=[5.0], noise_pick=[[0.3, 0.5, 0.1]]))
    for other in ([0.9, 0.5, 0.1], [0.3, 0.6, 0.1], [0.3, 0.5, 0.2]):  # another field or shift: other noise
        assert np.abs(view(noise_std=[5.0], noise_pick=[other]) - noisy).mean() > 1.0


def test_missing_view_parameters_are_a_clear_error_and_the_config_round_trips():
    view = plain_view(1)
    del view["hole"]
    with pytest.raises(ValueError, match=r"lack \['hole'\]"):
        CropTrainView(32)(np.stack([square_crop()]), view)
    layer = CropTrainView.from_config(CropTrainView(48, noise_bank_size=3).get_config())
    assert (layer.output_size, layer.noise_bank_size, layer.dtype_policy.name) == (48, 3, "float32")
    with pytest.raises(ValueError, match="output_size=0"):
        CropTrainView(0)


def test_a_mixed_precision_policy_keeps_the_view_in_float32():
    crops = np.stack([square_crop()] * 4)
    draws = ci.sample_view_params(4, tf.constant([5, 5]), 48)
    reference = CropTrainView(48)(crops, draws).numpy()
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        mixed = CropTrainView(48)(crops, draws)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert mixed.dtype == tf.float32
    np.testing.assert_array_equal(mixed.numpy(), reference)
