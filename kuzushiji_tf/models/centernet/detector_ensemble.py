"""Several detectors (and, optionally, the mirrored page) read as one: a stronger teacher for pseudo-labels.

CenterNet's own test-time trick is to average the heatmap of the page with that of its mirror image, and
Kaggle's solutions averaged several detectors. Averaging the maps before decoding, rather than voting over
boxes after, keeps one peak per character and the usual decoding (`centernet_postprocess`, NMS) unchanged,
so the ensemble drops in wherever a `CenterNetDetector` is called. It costs one pass per member (twice with
the mirror), which is why it teaches (`kuzushiji-pseudo-label`) and is not exported.
"""

from __future__ import annotations

from keras import ops

from kuzushiji_tf.structures import HEATMAP, OFFSET, SIZE

PROB_EPS = 1e-6  # keeps the logit of an averaged probability finite


class DetectorEnsemble:
    """Callable like a detector: images `[B, H, W, 3]` 0..255 in, the members' maps averaged out.

    Heatmaps are averaged as probabilities and returned as logits; sizes are averaged; offsets too, a
    mirrored pass's x offset read back as 1 - dx (the centre at cell x + dx of a mirrored map of width Wo
    is at cell Wo - 1 - x plus 1 - dx). Every member must have the same output stride.

    Args:
        detectors: one or more detectors (`CenterNetDetector` or anything returning its dict of maps).
        mirror: also read each page mirrored left to right.
    """

    def __init__(self, detectors, mirror: bool = False):
        detectors = list(detectors)
        if not detectors:
            raise ValueError("an ensemble needs at least one detector")
        strides = {int(getattr(d, "output_stride", 4)) for d in detectors}
        if len(strides) != 1:
            raise ValueError(f"the detectors have different output strides {sorted(strides)}; their maps do not align")
        self.detectors, self.mirror, self.output_stride = detectors, mirror, strides.pop()

    def __call__(self, images, training=False):
        heatmaps, sizes, offsets = [], [], []
        for detector in self.detectors:
            views = [(images, False)] + ([(ops.flip(images, axis=2), True)] if self.mirror else [])
            for view, mirrored in views:
                outputs = detector(view, training=False)
                heatmap, size, offset = (ops.cast(outputs[key], "float32") for key in (HEATMAP, SIZE, OFFSET))
                if mirrored:
                    heatmap, size, offset = (ops.flip(t, axis=2) for t in (heatmap, size, offset))
                    offset = ops.concatenate([1.0 - offset[..., :1], offset[..., 1:]], axis=-1)
                heatmaps.append(ops.sigmoid(heatmap))
                sizes.append(size)
                offsets.append(offset)
        prob = ops.clip(sum(heatmaps) / len(heatmaps), PROB_EPS, 1.0 - PROB_EPS)
        return {
            HEATMAP: ops.log(prob) - ops.log1p(-prob),
            SIZE: sum(sizes) / len(sizes),
            OFFSET: sum(offsets) / len(offsets),
        }
