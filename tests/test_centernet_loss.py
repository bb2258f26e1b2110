"""CenterNet loss against hand-computed numpy values, and its global-batch normalisation."""

import math

import numpy as np
import pytest
from keras import ops

from kuzushiji_tf.models.centernet import TOTAL, centernet_loss
from kuzushiji_tf.structures import HEATMAP, INDICES, MASK, OFFSET, SIZE


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _numpy(losses):
    return {key: float(ops.convert_to_numpy(value)) for key, value in losses.items()}


def _one_positive_case():
    """2x2 map, one character centred in cell (y=0, x=1) = flat index 1, plus one padding slot."""
    logits = np.array([[0.5, 1.5], [-1.0, -2.0]], "float32").reshape(1, 2, 2, 1)
    heatmap = np.array([[0.6, 1.0], [0.3, 0.0]], "float32").reshape(1, 2, 2, 1)
    size_map = np.arange(8, dtype="float32").reshape(1, 2, 2, 2)  # cell 1 predicts (2, 3)
    offset_map = np.full((1, 2, 2, 2), 0.5, "float32")
    targets = {
        HEATMAP: heatmap,
        SIZE: np.array([[[2.5, 1.0], [9.0, 9.0]]], "float32"),
        OFFSET: np.array([[[0.25, 0.75], [9.0, 9.0]]], "float32"),
        INDICES: np.array([[1, 0]], "int32"),
        MASK: np.array([[1.0, 0.0]], "float32"),
    }
    outputs = {HEATMAP: logits, SIZE: size_map, OFFSET: offset_map}
    return targets, outputs


def test_one_positive_matches_the_hand_computation():
    targets, outputs = _one_positive_case()
    p = _sigmoid(np.array([0.5, 1.5, -1.0, -2.0]))
    y = np.array([0.6, 1.0, 0.3, 0.0])
    positive = -((1 - p[1]) ** 2) * math.log(p[1])
    negative = -np.sum((1 - y) ** 4 * p**2 * np.log(1 - p))  # 0 at the centre, where y = 1
    expected_size = 0.4 * (abs(2.0 - 2.5) + abs(3.0 - 1.0)) / 2  # mean over (w, h)
    expected_offset = 1.0 * (abs(0.5 - 0.25) + abs(0.5 - 0.75)) / 2

    losses = _numpy(centernet_loss(targets, outputs, num_objects=1.0))
    assert losses[HEATMAP] == pytest.approx(positive + negative, rel=1e-5)
    assert losses[SIZE] == pytest.approx(expected_size, rel=1e-6)
    assert losses[OFFSET] == pytest.approx(expected_offset, rel=1e-6)
    assert losses[TOTAL] == pytest.approx(positive + negative + expected_size + expected_offset, rel=1e-5)


def test_size_and_offset_are_read_only_at_positive_cells():
    targets, outputs = _one_positive_case()
    reference = _numpy(centernet_loss(targets, outputs, num_objects=1.0))
    changed = {key: value.copy() for key, value in outputs.items()}
    for key in (SIZE, OFFSET):
        changed[key][0, 1, :, :] = 100.0  # every cell except (0, 0) and the positive (0, 1)
        changed[key][0, 0, 0, :] = -7.0
    losses = _numpy(centernet_loss(targets, changed, num_objects=1.0))
    assert losses[SIZE] == reference[SIZE] and losses[OFFSET] == reference[OFFSET]
    # The padding slot points at cell 0 with absurd targets: its mask keeps it out.
    targets[SIZE][0, 1] = -50.0
    assert _numpy(centernet_loss(targets, outputs, num_objects=1.0)) == reference


def test_every_term_is_divided_by_num_objects():
    targets, outputs = _one_positive_case()
    one = _numpy(centernet_loss(targets, outputs, num_objects=1.0))
    four = _numpy(centernet_loss(targets, outputs, num_objects=4.0))
    for key in one:
        assert four[key] == pytest.approx(one[key] / 4, rel=1e-6)
    # Default: the local sum of MASK (one character here).
    assert _numpy(centernet_loss(targets, outputs)) == one


def test_no_objects_gives_a_finite_heatmap_loss_and_zero_regression():
    targets, outputs = _one_positive_case()
    targets[MASK][:] = 0.0
    targets[HEATMAP][:] = 0.0
    losses = _numpy(centernet_loss(targets, outputs, num_objects=0.0))
    p = _sigmoid(np.array([0.5, 1.5, -1.0, -2.0]))
    assert losses[HEATMAP] == pytest.approx(-np.sum(p**2 * np.log(1 - p)), rel=1e-5)  # divided by max(0, 1)
    assert losses[SIZE] == 0.0 and losses[OFFSET] == 0.0
    assert all(np.isfinite(value) for value in losses.values())


def test_probabilities_are_clipped_for_extreme_logits():
    targets, outputs = _one_positive_case()
    outputs[HEATMAP] = np.array([[1e4, -1e4], [-1e4, -1e4]], "float32").reshape(1, 2, 2, 1)
    losses = _numpy(centernet_loss(targets, outputs, num_objects=1.0))
    eps = 1e-4
    positive = -((1 - eps) ** 2) * math.log(eps)  # centre logit -1e4: p clipped to 1e-4
    negative = -((1 - 0.6) ** 4) * (1 - eps) ** 2 * math.log(eps)  # cell (0, 0) logit 1e4: p clipped to 1 - 1e-4
    negative += -(eps**2) * math.log(1 - eps) * ((1 - 0.3) ** 4 + 1.0)  # the two confident negatives, p = 1e-4
    assert losses[HEATMAP] == pytest.approx(positive + negative, rel=1e-4)


def _random_batch(batch=4, size=6, slots=5, seed=0):
    rng = np.random.default_rng(seed)
    counts = np.array([3, 0, 5, 1])[:batch]
    mask = (np.arange(slots)[None, :] < counts[:, None]).astype("float32")
    indices = rng.integers(0, size * size, (batch, slots)).astype("int32")
    heatmap = rng.uniform(0, 0.9, (batch, size, size, 1)).astype("float32")
    np.put_along_axis(heatmap.reshape(batch, -1), indices, 1.0, axis=1)
    targets = {
        HEATMAP: heatmap,
        SIZE: rng.uniform(0, 10, (batch, slots, 2)).astype("float32"),
        OFFSET: rng.uniform(0, 1, (batch, slots, 2)).astype("float32"),
        INDICES: indices,
        MASK: mask,
    }
    outputs = {
        HEATMAP: rng.normal(0, 2, (batch, size, size, 1)).astype("float32"),
        SIZE: rng.uniform(0, 10, (batch, size, size, 2)).astype("float32"),
        OFFSET: rng.uniform(0, 1, (batch, size, size, 2)).astype("float32"),
    }
    return targets, outputs


def test_replica_losses_sum_to_the_global_batch_loss():
    """What a strategy does: each replica divides by the GLOBAL object count, the sums then add up."""
    targets, outputs = _random_batch()
    num_objects = float(targets[MASK].sum())  # all-reduced over replicas in training
    full = _numpy(centernet_loss(targets, outputs, num_objects=num_objects))
    halves = [
        _numpy(
            centernet_loss(
                {k: v[part] for k, v in targets.items()},
                {k: v[part] for k, v in outputs.items()},
                num_objects=num_objects,
            )
        )
        for part in (slice(0, 2), slice(2, 4))
    ]
    for key in full:
        assert halves[0][key] + halves[1][key] == pytest.approx(full[key], rel=1e-5)
    assert full[SIZE] > 0 and full[OFFSET] > 0


def test_float16_outputs_give_float32_losses():
    targets, outputs = _random_batch()
    half = {key: value.astype("float16") for key, value in outputs.items()}
    losses = centernet_loss(targets, half)
    assert all(value.dtype == "float32" for value in losses.values())
    assert _numpy(losses)[TOTAL] == pytest.approx(_numpy(centernet_loss(targets, outputs))[TOTAL], rel=1e-2)
