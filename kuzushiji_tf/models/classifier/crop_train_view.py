"""The classifier's random train view, applied to a batch of stored crops on the training device.

Per crop, the input pipeline sends the stored crop (uint8, 1.4 x the box's longer side) and the random
draws of its view (`classifier_input.sample_view_params`); this layer turns them into the model's input:
a window of the stored crop, one warp (rotation, grid distortion or elastic), resized to `output_size`
by one bilinear resampling, then RGB shift, brightness/contrast, Gaussian noise and a coarse-dropout
hole. Drawing on the host and applying on the device keeps the input pipeline at the JPEG decode rate
(the view costs ~12 x a crop's decode on a CPU, see docs/benchmarks.md) and keeps the view a pure
function of (crop, draws), reproducible under any distribution strategy and backend.

View parameters (a dict, B crops):
    window: float32 [B, 4] (cy, cx, h, w), fractions of the stored crop's side.
    warp: int32 [B]: 0 none, 1 rotation, 2 grid distortion, 3 elastic.
    angle: float32 [B] rotation in radians.
    grid_stretch: float32 [B, 2, steps] row and column cell stretches (GridDistortion).
    elastic: float32 [B, g, g, 2] control-point displacements in output pixels (bicubic in between).
    rgb_shift: float32 [B, 3] added per channel (0: not fired).
    contrast, brightness: float32 [B]: (x - mean) * contrast + mean + brightness (1 and 0: not fired).
    noise_std: float32 [B] (0: not fired).  noise_pick: float32 [B, 3] in [0, 1): which noise field
        of the bank, and its cyclic shift (y, x).
    hole: float32 [B, 4] (y0, x0, h, w) output pixels set to 0 (h = w = 0: not fired).
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

VIEW_KEYS = (
    "window",
    "warp",
    "angle",
    "grid_stretch",
    "elastic",
    "rgb_shift",
    "contrast",
    "brightness",
    "noise_std",
    "noise_pick",
    "hole",
)
NO_WARP, ROTATION, GRID, ELASTIC = 0, 1, 2, 3
# Standard-normal fields the noise is read from, cyclically shifted per crop: 8 fields x S^2 shifts give
# enough variety for an augmentation, and reading them costs one gather instead of S^2 x 3 normal draws
# per crop with a random-number state that every backend and strategy would have to carry.
NOISE_BANK_SIZE = 8
NOISE_BANK_SEED = 20191014


def identity_coords(size: int):
    """float32 [size, size, 2] (y, x): every output pixel reads itself."""
    grid = ops.arange(size, dtype="float32")
    ys, xs = ops.meshgrid(grid, grid, indexing="ij")
    return ops.stack([ys, xs], axis=-1)


def rotation_coords(size: int, angle):
    """[B, S, S, 2]: rotation by `angle` [B] radians about the output's centre."""
    centre = (size - 1) / 2.0
    offset = identity_coords(size)[None] - centre  # [1, S, S, 2] (dy, dx)
    cos, sin = ops.cos(angle)[:, None, None], ops.sin(angle)[:, None, None]
    y = cos * offset[..., 0] - sin * offset[..., 1]
    x = sin * offset[..., 0] + cos * offset[..., 1]
    return ops.stack([y, x], axis=-1) + centre


def stretch_axis(size: int, stretch):
    """Source positions [B, size] of one axis cut into `steps` equal cells, cell k read from a source cell
    (1 + stretch[:, k]) times as long, the cells rescaled to fill the axis (both ends stay in place)."""
    steps = stretch.shape[-1]
    cell = size / steps
    widths = cell * (1.0 + stretch)  # [B, steps]
    bounds = ops.concatenate([ops.zeros_like(widths[:, :1]), ops.cumsum(widths, axis=1)], axis=1)
    bounds = bounds * (size / ops.sum(widths, axis=1, keepdims=True))  # [B, steps + 1]
    centres = np.arange(size, dtype=np.float32) + 0.5  # continuous positions of the pixel centres
    index = np.clip(np.floor(centres / cell).astype(np.int32), 0, steps - 1)  # [S], static
    fraction = (centres / cell - index).astype(np.float32)
    start, end = ops.take(bounds, index, axis=1), ops.take(bounds, index + 1, axis=1)  # [B, S]
    return start + fraction * (end - start) - 0.5


def grid_distortion_coords(size: int, stretch):
    """[B, S, S, 2]: rows and columns stretched piecewise linearly; `stretch` [B, 2, steps] (y, x)."""
    ys, xs = stretch_axis(size, stretch[:, 0]), stretch_axis(size, stretch[:, 1])  # [B, S]
    batch = ops.shape(stretch)[0]
    return ops.stack(
        [ops.broadcast_to(ys[:, :, None], (batch, size, size)), ops.broadcast_to(xs[:, None, :], (batch, size, size))],
        axis=-1,
    )


def elastic_field(size: int, control):
    """[B, S, S, 2] a smooth displacement, `control` [B, g, g, 2] pixels upsampled bicubically."""
    return ops.image.resize(control, (size, size), interpolation="bicubic", data_format="channels_last")


def elastic_coords(size: int, control):
    """[B, S, S, 2]: the identity displaced by `elastic_field` (an elastic transform without its
    per-pixel Gaussian blur)."""
    return identity_coords(size)[None] + elastic_field(size, control)


def window_coords(window, coords, stored_size):
    """Where each output pixel reads the stored crop: output pixel centre (i + 0.5) / S of the window.

    Args:
        window: float32 [B, 4] (cy, cx, h, w), fractions of the stored side.
        coords: float32 [B, S, S, 2] (y, x) in output pixels (a warp, or the identity).
        stored_size: float32 [2] (height, width) of the stored crops.
    Returns:
        float32 [B, S, S, 2] (y, x) in the stored crop's pixel-index frame (pixel i's centre at i).
    """
    size = coords.shape[1]
    origin = (window[:, :2] - window[:, 2:] / 2.0)[:, None, None, :]  # (y0, x0) fractions
    extent = window[:, None, None, 2:]
    return (origin + (coords + 0.5) / size * extent) * stored_size - 0.5


def bilinear_sample(images, coords):
    """out[b, i, j] = images[b] at coords[b, i, j] (y, x), bilinear; positions beyond a crop read its
    edge pixels, as the record builder pads crops. images [B, H, W, C] -> float32 [B, h, w, C]."""
    images = ops.cast(images, "float32")
    _, height, width, channels = ops.shape(images)
    coords = ops.clip(coords, 0.0, ops.cast(ops.stack([height - 1, width - 1]), "float32"))
    low = ops.floor(coords)
    weight = coords - low
    low = ops.cast(low, "int32")
    high_y = ops.minimum(low[..., 0] + 1, height - 1)
    high_x = ops.minimum(low[..., 1] + 1, width - 1)
    flat = ops.reshape(images, (-1, channels))  # [B * H * W, C]
    base = (ops.arange(ops.shape(images)[0], dtype="int32") * (height * width))[:, None, None]

    def read(y, x):
        return ops.take(flat, base + y * width + x, axis=0)  # [B, h, w, C]

    wy, wx = weight[..., :1], weight[..., 1:]
    top = read(low[..., 0], low[..., 1]) * (1.0 - wx) + read(low[..., 0], high_x) * wx
    bottom = read(high_y, low[..., 1]) * (1.0 - wx) + read(high_y, high_x) * wx
    return top * (1.0 - wy) + bottom * wy


class CropTrainView(keras.layers.Layer):
    """Stored crops [B, H, W, 3] (any numeric dtype, 0..255) and their view parameters (module docstring)
    -> float32 [B, output_size, output_size, 3] in 0..255, the classifier's training input.

    Args:
        output_size: the classifier's input side.
        noise_bank_size: how many standard-normal noise fields the noise is read from.
    """

    def __init__(self, output_size: int, noise_bank_size: int = NOISE_BANK_SIZE, **kwargs):
        # Window fractions and angles need float32 under a mixed policy, which would cast them to float16.
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        if output_size < 1 or noise_bank_size < 1:
            raise ValueError(
                f"output_size and noise_bank_size must be positive; received "
                f"output_size={output_size}, noise_bank_size={noise_bank_size}"
            )
        self.output_size = output_size
        self.noise_bank_size = noise_bank_size
        # A numpy constant, not a weight: the layer holds no state to checkpoint or mirror.
        self._noise_bank = (
            np.random.default_rng(NOISE_BANK_SEED)
            .standard_normal((noise_bank_size * output_size * output_size, 3))
            .astype(np.float32)
        )

    def warp_coords(self, view):
        """[B, S, S, 2] output-pixel coordinates of each crop's warp (the identity where warp == 0)."""
        size = self.output_size
        warp = ops.cast(view["warp"], "int32")
        # Every warp is the identity at zero strength, so the chosen one is the sum of the three with the
        # others zeroed: selecting on the small draws instead of on three [B, S, S, 2] fields halves the cost.
        angle = ops.where(warp == ROTATION, view["angle"], 0.0)
        stretch = ops.where((warp == GRID)[:, None, None], view["grid_stretch"], 0.0)
        control = ops.where((warp == ELASTIC)[:, None, None, None], view["elastic"], 0.0)
        grid_shift = grid_distortion_coords(size, stretch) - identity_coords(size)[None]
        return rotation_coords(size, angle) + grid_shift + elastic_field(size, control)

    def noise(self, pick):
        """float32 [B, S, S, 3] standard-normal noise: field floor(pick[:, 0] * K), shifted cyclically by
        floor(pick[:, 1:] * S) pixels."""
        size, bank = self.output_size, self.noise_bank_size
        field = ops.minimum(ops.cast(ops.floor(pick[:, 0] * bank), "int32"), bank - 1)[:, None, None]
        shift = ops.minimum(ops.cast(ops.floor(pick[:, 1:] * size), "int32"), size - 1)
        grid = ops.arange(size, dtype="int32")
        rows = (grid[None] + shift[:, :1]) % size  # [B, S]
        cols = (grid[None] + shift[:, 1:]) % size
        index = field * (size * size) + rows[:, :, None] * size + cols[:, None, :]  # [B, S, S]
        return ops.take(ops.convert_to_tensor(self._noise_bank), index, axis=0)

    def augment(self, images, view):
        """RGB shift, brightness/contrast about the crop's mean, noise, one hole; clipped to 0..255."""
        images = images + view["rgb_shift"][:, None, None, :]
        mean = ops.mean(images, axis=(1, 2, 3), keepdims=True)
        contrast = view["contrast"][:, None, None, None]
        images = (images - mean) * contrast + mean + view["brightness"][:, None, None, None]
        images = images + view["noise_std"][:, None, None, None] * self.noise(view["noise_pick"])
        grid = ops.arange(self.output_size, dtype="float32")[None]
        hole = view["hole"]
        rows = (grid >= hole[:, :1]) & (grid < hole[:, :1] + hole[:, 2:3])  # [B, S]
        cols = (grid >= hole[:, 1:2]) & (grid < hole[:, 1:2] + hole[:, 3:4])
        inside = rows[:, :, None, None] & cols[:, None, :, None]
        return ops.clip(ops.where(inside, 0.0, images), 0.0, 255.0)

    def call(self, crops, view):
        missing = [key for key in VIEW_KEYS if key not in view]
        if missing:
            raise ValueError(f"view parameters lack {missing}; received keys {sorted(view)}")
        view = {key: view[key] if key == "warp" else ops.cast(view[key], "float32") for key in VIEW_KEYS}
        stored = ops.cast(ops.stack(ops.shape(crops)[1:3]), "float32")
        coords = window_coords(view["window"], self.warp_coords(view), stored)
        return self.augment(bilinear_sample(crops, coords), view)

    def compute_output_spec(self, crops, view):
        return keras.KerasTensor((crops.shape[0], self.output_size, self.output_size, 3), dtype="float32")

    def get_config(self):
        config = super().get_config()
        config.update({"output_size": self.output_size, "noise_bank_size": self.noise_bank_size})
        return config
