"""CenterNet's training loss, normalised per object of the GLOBAL batch so it is correct under any strategy.

Every term is a SUM over the local (per-replica) batch divided by `max(num_objects, 1)`, where the caller
passes `num_objects` = the number of real characters in the whole global batch (the all-reduced sum of
`targets[MASK]` over replicas). Summing the per-replica results (what `strategy.reduce(SUM, ...)` and
gradient all-reduce do) then gives exactly the single-device loss of the global batch, and an empty page
or batch never divides by zero. Do not divide again by the replica count or the batch size. (The 8th-place
code divided by 5, the length of its last image's channels, by mistake: docs/recipe.md.)
"""

from __future__ import annotations

import math

from keras import ops

from kuzushiji_tf.structures import HEATMAP, INDICES, MASK, OFFSET, SIZE

TOTAL = "total"
# Loss weights of the recipe (docs/recipe.md, "Loss").
SIZE_WEIGHT = 0.4
OFFSET_WEIGHT = 1.0
# CenterNet clamps sigmoid probabilities to [1e-4, 1 - 1e-4]: no log(0), and a bounded gradient.
PROB_EPS = 1e-4


def gather_cells(feature_map, indices):
    """Values of `feature_map` [B, Ho, Wo, C] at flat cells `indices` [B, K] (y * Wo + x) -> [B, K, C].

    Indices are clipped into the map, so padding entries (mask 0) may hold any value.
    """
    shape = ops.shape(feature_map)
    flat = ops.reshape(feature_map, (shape[0], -1, shape[3]))  # [B, Ho*Wo, C]
    indices = ops.clip(ops.cast(indices, "int32"), 0, shape[1] * shape[2] - 1)
    return ops.take_along_axis(flat, ops.expand_dims(indices, -1), axis=1)  # [B, K, C]


def centernet_loss(
    targets, outputs, num_objects=None, alpha=2.0, beta=4.0, size_weight=SIZE_WEIGHT, offset_weight=OFFSET_WEIGHT
):
    """Penalty-reduced focal loss on the heatmap plus L1 size and offset losses at the centres.

    Heatmap: positives are the cells at `INDICES` where `MASK` is 1, loss `-(1 - p)^alpha log p`; every
    cell adds `-(1 - y)^beta p^alpha log(1 - p)`, which is 0 at a centre because the targets hold exactly
    1 there. `p = sigmoid(logit)` clamped to [1e-4, 1 - 1e-4], its logs taken from `log_sigmoid` (stable
    for any logit). Size and offset: L1 at the positive cells only, averaged over the two coordinates as
    CenterNet's `RegL1Loss` and the 8th-place code do, so the 0.4 / 1.0 weights keep their meaning.

    Args:
        targets: dict, `HEATMAP` float32 `[B, Ho, Wo, 1]` Gaussian peaks (1 at centres); `SIZE` `[B, K, 2]`
            and `OFFSET` `[B, K, 2]` per character; `INDICES` int32 `[B, K]` flat cells y * Wo + x;
            `MASK` float32 `[B, K]`, 1 for a character and 0 for padding.
        outputs: dict from `CenterNetDetector`: `HEATMAP` logits `[B, Ho, Wo, 1]`, `SIZE` and `OFFSET`
            `[B, Ho, Wo, 2]`; any float dtype (cast to float32 here).
        num_objects: scalar, characters in the GLOBAL batch (all replicas). None: `sum(MASK)` of this
            batch, right on one device only.
        alpha, beta: focal exponents (CenterNet's 2 and 4).
        size_weight, offset_weight: loss weights (0.4 and 1.0).

    Returns:
        dict of float32 scalars: `HEATMAP`, `SIZE`, `OFFSET` (weighted) and `TOTAL` (their sum); each is
        this replica's share of the global-batch loss.

    Example:
    ```python
    losses = centernet_loss(targets, detector(images, training=True), num_objects=global_count)
    losses["total"]
    ```
    """
    mask = ops.cast(targets[MASK], "float32")  # [B, K]
    if num_objects is None:
        num_objects = ops.sum(mask)
    normalizer = ops.maximum(ops.cast(num_objects, "float32"), 1.0)
    indices = targets[INDICES]  # [B, K]

    # --- Heatmap: penalty-reduced focal loss on logits.
    logits = ops.cast(outputs[HEATMAP], "float32")  # [B, Ho, Wo, 1]
    heatmap = ops.cast(targets[HEATMAP], "float32")  # [B, Ho, Wo, 1]
    log_lo, log_hi = math.log(PROB_EPS), math.log1p(-PROB_EPS)
    prob = ops.clip(ops.sigmoid(logits), PROB_EPS, 1.0 - PROB_EPS)
    log_not_prob = ops.clip(ops.log_sigmoid(-logits), log_lo, log_hi)  # log(1 - p)
    negative = ops.power(1.0 - heatmap, beta) * ops.power(prob, alpha) * log_not_prob
    centre_logits = gather_cells(logits, indices)[..., 0]  # [B, K]
    centre_prob = ops.clip(ops.sigmoid(centre_logits), PROB_EPS, 1.0 - PROB_EPS)
    centre_log_prob = ops.clip(ops.log_sigmoid(centre_logits), log_lo, log_hi)
    positive = ops.power(1.0 - centre_prob, alpha) * centre_log_prob * mask
    heatmap_loss = -(ops.sum(positive) + ops.sum(negative)) / normalizer

    # --- Size and offset: L1 at the centres only.
    def l1_at_centres(key):
        predicted = ops.cast(gather_cells(outputs[key], indices), "float32")  # [B, K, 2]
        error = ops.abs(predicted - ops.cast(targets[key], "float32")) * mask[..., None]
        return ops.sum(error) / (2.0 * normalizer)

    size_loss = size_weight * l1_at_centres(SIZE)
    offset_loss = offset_weight * l1_at_centres(OFFSET)
    return {HEATMAP: heatmap_loss, SIZE: size_loss, OFFSET: offset_loss, TOTAL: heatmap_loss + size_loss + offset_loss}
