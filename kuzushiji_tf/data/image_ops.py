"""Pixel and box operations of the detector's and classifier's input views: crop windows (decoding only
the window of a JPEG), resizes that move boxes with the pixels, the recipe's augmentations, and the warps
(rotation, grid, elastic) that the classifier's crops go through in one bilinear `remap`.

Every random op is stateless and takes an explicit int32/int64 seed [2], so a view is a pure function of
(example, seed): reproducible in tests and identical across runs for a seeded pipeline. Images are float32
on the 0..255 scale throughout; normalisation is the model's first layer.
"""

from __future__ import annotations

import tensorflow as tf

# docs/recipe.md (training input): crop side U(0.35, 0.65) x the page's short side, aspect U(1, 1.3).
CROP_SCALE_RANGE = (0.35, 0.65)
CROP_ASPECT_RANGE = (1.0, 1.3)
# Augmentation magnitudes: albumentations' defaults, which the original used through its Compose.
RGB_SHIFT_LIMIT = 20.0  # per-channel shift, 0..255 scale (RGBShift)
BRIGHTNESS_LIMIT = 0.2  # beta x 255 added (RandomBrightnessContrast)
CONTRAST_LIMIT = 0.2  # alpha = 1 +- 0.2 around the image mean
NOISE_STD_RANGE = (10.0**0.5, 50.0**0.5)  # GaussNoise var_limit (10, 50)
DROPOUT_SIDE_RANGE = (0.05, 0.2)  # one hole, side as a fraction of the image side
# Each of the three groups (colour, brightness/contrast, noise-or-dropout) fires with this probability.
AUGMENT_PROBABILITY = 0.5


def _uniform(seed, shape=(), low=0.0, high=1.0) -> tf.Tensor:
    return tf.random.stateless_uniform(shape, seed, minval=low, maxval=high)


def sample_crop_window(
    image_size: tf.Tensor, seed: tf.Tensor, scale_range=CROP_SCALE_RANGE, aspect_range=CROP_ASPECT_RANGE
) -> tf.Tensor:
    """A random crop window of the training view: short side U(scale_range) x the page's short side,
    long side that times U(aspect_range), the long axis vertical or horizontal with equal chance, placed
    uniformly inside the page (sides are clipped to the page).

    Args:
        image_size: int32 [2] (height, width) of the page.
        seed: int [2].
    Returns:
        int32 [4] (y0, x0, height, width) in page pixels.
    """
    size = tf.cast(image_size, tf.float32)
    u = _uniform(seed, [5])
    short = (scale_range[0] + (scale_range[1] - scale_range[0]) * u[0]) * tf.reduce_min(size)
    long = short * (aspect_range[0] + (aspect_range[1] - aspect_range[0]) * u[1])
    crop = tf.where(u[2] < 0.5, tf.stack([long, short]), tf.stack([short, long]))  # (h, w)
    crop = tf.clip_by_value(tf.round(crop), 1.0, size)
    origin = tf.floor(u[3:] * (size - crop + 1.0))  # uniform over the size - crop + 1 placements
    return tf.cast(tf.concat([tf.minimum(origin, size - crop), crop], 0), tf.int32)


def crop_boxes(boxes: tf.Tensor, window: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Boxes in a crop's pixels: which boxes have their centre inside the window (half-open, so a centre
    on the far edge belongs to the next crop), and those boxes shifted and clipped to the window.

    Args:
        boxes: float32 [N, 4] xyxy page pixels.  window: int32 [4] (y0, x0, height, width).
    Returns:
        boxes float32 [M, 4] xyxy crop pixels; keep bool [N] (M = its number of True).
    """
    y0, x0, height, width = tf.unstack(tf.cast(window, tf.float32))
    shifted = tf.reshape(boxes, [-1, 4]) - tf.stack([x0, y0, x0, y0])  # [N, 4]
    centre = (shifted[:, :2] + shifted[:, 2:]) / 2.0  # [N, 2] (cx, cy)
    keep = tf.reduce_all((centre >= 0.0) & (centre < tf.stack([width, height])), axis=1)  # [N]
    limit = tf.stack([width, height, width, height])
    return tf.clip_by_value(tf.boolean_mask(shifted, keep), 0.0, limit), keep


def image_size(image: tf.Tensor) -> tf.Tensor:
    """int32 [2] (height, width) of pixels [H, W, C], or of a JPEG (string []) read from its header alone."""
    if image.dtype == tf.string:
        return tf.io.extract_jpeg_shape(image)[:2]
    return tf.shape(image)[:2]


def crop_image(image: tf.Tensor, window: tf.Tensor) -> tf.Tensor:
    """[H, W, C] -> [h, w, C] at window (y0, x0, h, w). A JPEG (string []) is decoded to uint8 [h, w, 3]
    by `decode_jpeg_window`: only the window, the same pixels as decoding the whole page then slicing."""
    window = tf.cast(window, tf.int32)
    if image.dtype == tf.string:
        return decode_jpeg_window(image, window)
    return tf.slice(image, tf.concat([window[:2], [0]], 0), tf.concat([window[2:], [-1]], 0))


# decode_and_crop_jpeg upsamples chroma (4:2:0 and 4:2:2 JPEGs, the record builder's OpenCV default) as if
# the window's first and last columns were the image's edges, so they would differ from a whole-page
# decode by up to ~14 levels. One more pixel decoded on each side where the page has one, then sliced off,
# gives the whole-page decode's pixels exactly (checked on 4:2:0, 4:2:2, 4:1:1, 4:4:0, 4:4:4).
_JPEG_WINDOW_BORDER = 1


def decode_jpeg_window(data: tf.Tensor, window: tf.Tensor) -> tf.Tensor:
    """uint8 [h, w, 3]: the pixels at window (y0, x0, h, w) of a JPEG, decoding only that part of it.
    A training crop covers 7-33 % of the page: this costs about a third of a whole-page decode."""
    window = tf.cast(window, tf.int32)
    origin, size = window[:2], window[2:]
    before = tf.minimum(origin, _JPEG_WINDOW_BORDER)  # [2] (y, x) extra pixels above / left
    after = tf.minimum(image_size(data) - origin - size, _JPEG_WINDOW_BORDER)  # [2] below / right
    wider = tf.concat([origin - before, size + before + after], 0)
    decoded = tf.io.decode_and_crop_jpeg(data, wider, channels=3)
    return tf.slice(decoded, tf.concat([before, [0]], 0), tf.concat([size, [-1]], 0))


def resize_with_boxes(
    image: tf.Tensor, boxes: tf.Tensor, size, antialias_below: float = 1.0
) -> tuple[tf.Tensor, tf.Tensor]:
    """Resizes an image to size (height, width) and moves xyxy pixel boxes with it, each axis by its own
    factor. Bilinear, antialiased (like PIL's resize in the original) when an axis shrinks to less than
    `antialias_below` of its size: below 1 (every shrink, the default) for whole pages, 0.5 for training
    crops, which plain bilinear shrinks by up to 2x reading every source pixel, at half the cost.

    Returns:
        float32 [height, width, C] on the input's 0..255 scale; boxes float32 [N, 4].
    """
    size = tf.cast(size, tf.int32)
    old = tf.cast(tf.shape(image)[:2], tf.float32)
    factor = tf.cast(size, tf.float32) / old  # (fy, fx)
    # uint8 in: the resize kernels read it directly, without a float32 copy of the input.
    resized = tf.cond(
        tf.reduce_min(factor) < antialias_below,
        lambda: tf.image.resize(image, size, method="bilinear", antialias=True),
        lambda: tf.image.resize(image, size, method="bilinear"),
    )
    boxes = tf.reshape(boxes, [-1, 4]) * tf.stack([factor[1], factor[0], factor[1], factor[0]])
    return tf.cast(resized, tf.float32), boxes


def short_side_size(image_size: tf.Tensor, short_side, multiple: int = 32) -> tf.Tensor:
    """int32 [2] (height, width) with the short side scaled to `short_side` (an int or an int tensor) and
    each side rounded to the nearest multiple of `multiple` (at least one), so every level of the stride-32
    backbone aligns."""
    size = tf.cast(image_size, tf.float32)
    scaled = size * (tf.cast(short_side, tf.float32) / tf.reduce_min(size))
    return tf.cast(tf.maximum(tf.round(scaled / multiple), 1.0) * multiple, tf.int32)


def augment(image: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """The recipe's photometric augmentation: one of (RGB shift, grayscale), then brightness/contrast,
    then one of (Gaussian noise, one coarse-dropout hole); each group fires with AUGMENT_PROBABILITY.
    Geometry is untouched, so boxes stay valid.

    Every draw is made up front from the seed, so the decisions and magnitudes are a pure function of it;
    each group's pixel work then runs under `tf.cond` only when it fires. Computing every branch and
    selecting arithmetically cost ~26 ms per 416 x 416 crop (the grayscale copy, a Gaussian noise field,
    the dropout mask and their selections on every page), ~2.7 page decodes; this costs ~2.3 ms.

    Args:
        image: float32 [H, W, 3], 0..255.  seed: int [2].
    Returns:
        float32 [H, W, 3] clipped to 0..255.
    """
    seeds = tf.random.split(tf.cast(seed, tf.int64), 8)  # [8, 2]
    fire = _uniform(seeds[0], [3]) < AUGMENT_PROBABILITY  # per group
    pick = _uniform(seeds[1], [2]) < 0.5  # which member of groups 1 and 3
    shifted, grayscale, contrasted = fire[0] & pick[0], fire[0] & ~pick[0], fire[1]
    shift = _uniform(seeds[2], [3], -RGB_SHIFT_LIMIT, RGB_SHIFT_LIMIT)  # [3]
    alpha = 1.0 + _uniform(seeds[3], (), -CONTRAST_LIMIT, CONTRAST_LIMIT)
    beta = 255.0 * _uniform(seeds[4], (), -BRIGHTNESS_LIMIT, BRIGHTNESS_LIMIT)

    image = tf.cond(grayscale, lambda: tf.tile(tf.image.rgb_to_grayscale(image), [1, 1, 3]), lambda: image)
    # The RGB shift and brightness/contrast in one pass. Without a clip between them,
    # ((x + s) - m) * a + m + b = x * a + (s * a + (1 - a) * m + b), with m the mean after the shift,
    # mean(x) + mean(s); either step alone is the same formula with a = 1 or s = 0 (and b = 0). Equal to
    # the two passes up to float rounding (~1e-4 on the 0..255 scale).
    shift = tf.where(shifted, shift, 0.0)  # [3]
    scale = tf.where(contrasted, alpha, 1.0)
    mean = tf.cond(contrasted, lambda: tf.reduce_mean(image) + tf.reduce_mean(shift), lambda: 0.0)
    offset = shift * scale + tf.where(contrasted, (1.0 - alpha) * mean + beta, 0.0)  # [3]
    image = tf.cond(shifted | contrasted, lambda: image * scale + offset, lambda: image)

    def noise():
        std = _uniform(seeds[5], (), *NOISE_STD_RANGE)
        return image + std * tf.random.stateless_normal(tf.shape(image), seeds[6])

    image = tf.cond(fire[2], lambda: tf.cond(pick[1], noise, lambda: coarse_dropout(image, seeds[7])), lambda: image)
    return tf.clip_by_value(image, 0.0, 255.0)


def coarse_dropout(image: tf.Tensor, seed: tf.Tensor, side_range=DROPOUT_SIDE_RANGE) -> tf.Tensor:
    """Blacks out one random rectangle (sides U(side_range) x the image's sides), as a blot of ink or a
    torn corner would hide characters. float32 [H, W, C] -> same."""
    size = tf.cast(tf.shape(image)[:2], tf.float32)
    u = _uniform(seed, [4])
    hole = tf.round((side_range[0] + (side_range[1] - side_range[0]) * u[:2]) * size)  # (h, w)
    start = tf.floor(u[2:] * (size - hole + 1.0))  # (y0, x0)
    rows = tf.range(size[0])
    cols = tf.range(size[1])
    inside_rows = (rows >= start[0]) & (rows < start[0] + hole[0])  # [H]
    inside_cols = (cols >= start[1]) & (cols < start[1] + hole[1])  # [W]
    hole_mask = inside_rows[:, None, None] & inside_cols[None, :, None]  # [H, W, 1]
    return tf.where(hole_mask, 0.0, image)


def identity_coords(size: int) -> tf.Tensor:
    """float32 [size, size, 2] (y, x): every output pixel reads itself."""
    grid = tf.range(size, dtype=tf.float32)
    ys, xs = tf.meshgrid(grid, grid, indexing="ij")
    return tf.stack([ys, xs], axis=-1)


def remap(image: tf.Tensor, coords: tf.Tensor) -> tf.Tensor:
    """Bilinear sampling: out[i, j] = image at coords[i, j] (y, x in the image's pixel-index frame).
    Positions beyond the image read its edge pixels, as the record builder pads crops.

    Args:
        image: [H, W, C] any numeric dtype.  coords: float32 [h, w, 2].
    Returns:
        float32 [h, w, C] on the image's scale.
    """
    image = tf.cast(image, tf.float32)
    shape = tf.shape(image)
    limit = tf.cast(shape[:2] - 1, tf.float32)  # (H - 1, W - 1)
    coords = tf.clip_by_value(coords, 0.0, limit)
    low = tf.floor(coords)  # [h, w, 2]
    weight = coords - low  # [h, w, 2]
    low = tf.cast(low, tf.int32)
    high = tf.minimum(low + 1, shape[:2] - 1)
    flat = tf.reshape(image, [-1, shape[2]])  # [H * W, C]

    def read(y, x):
        return tf.gather(flat, y * shape[1] + x)  # [h, w, C]

    wy, wx = weight[..., :1], weight[..., 1:]
    top = read(low[..., 0], low[..., 1]) * (1.0 - wx) + read(low[..., 0], high[..., 1]) * wx
    bottom = read(high[..., 0], low[..., 1]) * (1.0 - wx) + read(high[..., 0], high[..., 1]) * wx
    return top * (1.0 - wy) + bottom * wy
