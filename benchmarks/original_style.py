"""Baseline loaders in the original solution's style, for `input_pipeline.py` to compare against: one
sample at a time in Python, the ORIGINAL full-size JPEG read with OpenCV, random crop and augmentation in
numpy, and the CenterNet heatmap drawn with a Python loop over boxes (one Gaussian window per box, as
CenterNet's `draw_umich_gaussian`). Same recipe numbers as the library (crop U(0.35, 0.65) x short side,
aspect U(1, 1.3), 416 px, stride 4, sigma = CornerNet radius at IoU 0.7; classifier windows 1.1-1.3/1.4
of a 1.4 x square, one warp of three, the same pixel augmentations).

Numpy and OpenCV only (no TensorFlow), so `multiprocessing` workers start fast.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

INPUT_SIZE = 416
STRIDE = 4
MAX_CHARS = 512
CROP_INPUT_SIZE = 112
STORED_FACTOR = 1.4
P = 0.5  # each augmentation group fires with this probability, as in the library

cv2.setNumThreads(1)  # one sample per process at a time, as a per-sample Python loader runs


def read_rgb(path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise OSError(f"{path}: OpenCV could not read it")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


# --- Pixel augmentations (numpy), albumentations' default magnitudes as the library's image_ops.
def augment(image: np.ndarray, rng: np.random.Generator, grayscale: bool = True) -> np.ndarray:
    """float32 [H, W, 3] 0..255 -> same: RGB shift (or grayscale), brightness/contrast, noise or one hole."""
    if rng.random() < P:
        if grayscale and rng.random() < 0.5:
            image = np.repeat(image @ np.array([0.299, 0.587, 0.114], np.float32), 3).reshape(image.shape)
        else:
            image = image + rng.uniform(-20, 20, 3).astype(np.float32)
    if rng.random() < P:
        alpha, beta = 1.0 + rng.uniform(-0.2, 0.2), 255.0 * rng.uniform(-0.2, 0.2)
        mean = image.mean()
        image = (image - mean) * alpha + mean + beta
    if rng.random() < P:
        if rng.random() < 0.5:
            image = image + rng.normal(0.0, rng.uniform(10**0.5, 50**0.5), image.shape).astype(np.float32)
        else:
            height, width = image.shape[:2]
            hh, hw = (int(round(rng.uniform(0.05, 0.2) * side)) for side in (height, width))
            y0, x0 = rng.integers(0, height - hh + 1), rng.integers(0, width - hw + 1)
            image = image.copy()
            image[y0 : y0 + hh, x0 : x0 + hw] = 0.0
    return np.clip(image, 0.0, 255.0)


# --- CenterNet targets, one box at a time (CenterNet's python utilities).
def gaussian_radius(height: float, width: float, min_overlap: float = 0.7) -> float:
    a1, b1, c1 = 1, height + width, width * height * (1 - min_overlap) / (1 + min_overlap)
    r1 = (b1 + math.sqrt(b1**2 - 4 * a1 * c1)) / 2
    a2, b2, c2 = 4, 2 * (height + width), (1 - min_overlap) * width * height
    r2 = (b2 + math.sqrt(b2**2 - 4 * a2 * c2)) / 2
    a3, b3, c3 = 4 * min_overlap, -2 * min_overlap * (height + width), (min_overlap - 1) * width * height
    r3 = (b3 + math.sqrt(b3**2 - 4 * a3 * c3)) / 2
    return min(r1, r2, r3)


def draw_gaussian(heatmap: np.ndarray, cx: int, cy: int, sigma: float) -> None:
    """Max of the heatmap and a Gaussian window of radius 3 sigma around (cx, cy), in place."""
    radius = max(int(math.ceil(3 * sigma)), 1)
    y, x = np.ogrid[-radius : radius + 1, -radius : radius + 1]
    gaussian = np.exp(-(x * x + y * y) / (2 * sigma * sigma))
    height, width = heatmap.shape
    left, right = min(cx, radius), min(width - cx, radius + 1)
    top, bottom = min(cy, radius), min(height - cy, radius + 1)
    window = heatmap[cy - top : cy + bottom, cx - left : cx + right]
    np.maximum(window, gaussian[radius - top : radius + bottom, radius - left : radius + right], out=window)


def centernet_targets(boxes: np.ndarray, output_size: int) -> dict:
    heatmap = np.zeros((output_size, output_size), np.float32)
    size = np.zeros((MAX_CHARS, 2), np.float32)
    offset = np.zeros((MAX_CHARS, 2), np.float32)
    indices = np.zeros((MAX_CHARS,), np.int32)
    mask = np.zeros((MAX_CHARS,), np.float32)
    k = 0
    for x0, y0, x1, y1 in boxes / STRIDE:
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        ix, iy = int(cx), int(cy)
        if not (0 <= ix < output_size and 0 <= iy < output_size):
            continue
        sigma = max(gaussian_radius(y1 - y0, x1 - x0), 0.5)
        draw_gaussian(heatmap, ix, iy, sigma)
        if k < MAX_CHARS:
            size[k] = (x1 - x0, y1 - y0)
            offset[k] = (cx - ix, cy - iy)
            indices[k] = iy * output_size + ix
            mask[k] = 1.0
            k += 1
    return {"heatmap": heatmap[:, :, None], "size": size, "offset": offset, "indices": indices, "mask": mask}


class DetectorSampler:
    """One training sample per call, from the original JPEG: decode, random crop, resize, augment, targets.

    Args:
        pages: list of (image path, float32 [N, 4] xyxy boxes in original pixels).
    """

    def __init__(self, pages, seed: int = 0):
        self.pages = pages
        self.rng = np.random.default_rng(seed)

    def __call__(self, index: int) -> tuple[np.ndarray, dict]:
        path, boxes = self.pages[index % len(self.pages)]
        rng = self.rng
        image = read_rgb(path)
        height, width = image.shape[:2]
        short = rng.uniform(0.35, 0.65) * min(height, width)
        long = short * rng.uniform(1.0, 1.3)
        ch, cw = (long, short) if rng.random() < 0.5 else (short, long)
        ch, cw = int(min(round(ch), height)), int(min(round(cw), width))
        y0, x0 = int(rng.integers(0, height - ch + 1)), int(rng.integers(0, width - cw + 1))
        crop = image[y0 : y0 + ch, x0 : x0 + cw]
        shifted = boxes - np.array([x0, y0, x0, y0], np.float32)
        centre = (shifted[:, :2] + shifted[:, 2:]) / 2
        keep = (centre[:, 0] >= 0) & (centre[:, 0] < cw) & (centre[:, 1] >= 0) & (centre[:, 1] < ch)
        kept = np.clip(shifted[keep], 0, [cw, ch, cw, ch])
        resized = cv2.resize(crop, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_AREA).astype(np.float32)
        kept = kept * np.array([INPUT_SIZE / cw, INPUT_SIZE / ch] * 2, np.float32)
        return augment(resized, rng), centernet_targets(kept, INPUT_SIZE // STRIDE)


def collate(samples) -> tuple[np.ndarray, dict]:
    images = np.stack([image for image, _ in samples])
    targets = {key: np.stack([target[key] for _, target in samples]) for key in samples[0][1]}
    return images, targets


# --- Classifier crops from the original pages.
def _rotation_maps(size: int, rng) -> tuple[np.ndarray, np.ndarray]:
    matrix = cv2.getRotationMatrix2D(((size - 1) / 2, (size - 1) / 2), rng.uniform(-5, 5), 1.0)
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    map_x = matrix[0, 0] * xs + matrix[0, 1] * ys + matrix[0, 2]
    map_y = matrix[1, 0] * xs + matrix[1, 1] * ys + matrix[1, 2]
    return map_x.astype(np.float32), map_y.astype(np.float32)


def _grid_maps(size: int, rng, steps: int = 5, limit: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
    def axis():
        widths = (size / steps) * (1 + rng.uniform(-limit, limit, steps))
        bounds = np.concatenate([[0.0], np.cumsum(widths)]) * (size / widths.sum())
        positions = np.arange(size) + 0.5
        index = np.minimum((positions / (size / steps)).astype(int), steps - 1)
        fraction = positions / (size / steps) - index
        return (bounds[index] + fraction * (bounds[index + 1] - bounds[index]) - 0.5).astype(np.float32)

    map_y, map_x = np.meshgrid(axis(), axis(), indexing="ij")
    return map_x, map_y


def _elastic_maps(size: int, rng, alpha: float = 1.0, sigma: float = 50.0 * 112 / 512):
    """albumentations' ElasticTransform: a per-pixel random field smoothed with a Gaussian blur."""
    dx = cv2.GaussianBlur(rng.uniform(-1, 1, (size, size)).astype(np.float32), (0, 0), sigma) * alpha * size * 0.05
    dy = cv2.GaussianBlur(rng.uniform(-1, 1, (size, size)).astype(np.float32), (0, 0), sigma) * alpha * size * 0.05
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    return xs + dx, ys + dy


class ClassifierSampler:
    """One training crop per call, cut from an original page: 1.4 x square around a random character,
    a random 1.1-1.3/1.4 window with a small shift, resized to 112, one warp (rotation, grid, elastic) with
    probability 0.5, then the pixel augmentations.

    Args:
        pages: list of (image path, float32 [N, 4] xyxy boxes in original pixels).
        cache_pages: keep decoded pages in memory (decode each page once per process: the baseline's best
            case); False decodes the page for every crop.
    """

    def __init__(self, pages, seed: int = 0, cache_pages: bool = True):
        self.pages = pages
        self.chars = [(p, box) for p, (_, boxes) in enumerate(pages) for box in boxes]
        self.rng = np.random.default_rng(seed)
        self.cache = {} if cache_pages else None

    def page(self, index: int) -> np.ndarray:
        if self.cache is None:
            return read_rgb(self.pages[index][0])
        if index not in self.cache:
            self.cache[index] = read_rgb(self.pages[index][0])
        return self.cache[index]

    def warm(self) -> None:
        for index in range(len(self.pages)):
            self.page(index)

    def __call__(self, index: int) -> tuple[np.ndarray, int]:
        rng = self.rng
        page_index, (x0, y0, x1, y1) = self.chars[int(rng.integers(len(self.chars)))]
        image = self.page(page_index)
        height, width = image.shape[:2]
        side = STORED_FACTOR * max(x1 - x0, y1 - y0)
        frac = rng.uniform(1.1 / 1.4, 1.3 / 1.4, 2)  # (h, w) of the window, fractions of the square
        limit = np.minimum(0.05, (1 - frac) / 2)
        centre = np.array([(y0 + y1) / 2, (x0 + x1) / 2]) + rng.uniform(-1, 1, 2) * limit * side  # (cy, cx)
        wy0, wx0 = (centre - frac * side / 2).astype(int)
        wy1, wx1 = (centre + frac * side / 2).astype(int) + 1
        pad = [max(0, -wy0), max(0, wy1 - height), max(0, -wx0), max(0, wx1 - width)]
        crop = image[max(wy0, 0) : min(wy1, height), max(wx0, 0) : min(wx1, width)]
        if any(pad):
            crop = cv2.copyMakeBorder(crop, *pad, borderType=cv2.BORDER_REPLICATE)
        crop = cv2.resize(crop, (CROP_INPUT_SIZE, CROP_INPUT_SIZE), interpolation=cv2.INTER_AREA)
        if rng.random() < P:
            maps = (_rotation_maps, _grid_maps, _elastic_maps)[int(rng.integers(3))](CROP_INPUT_SIZE, rng)
            crop = cv2.remap(crop, maps[0], maps[1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        return augment(crop.astype(np.float32), rng, grayscale=False), page_index


# --- multiprocessing: one sampler per worker process, built by the pool's initializer.
_SAMPLER = None


def init_worker(kind: str, pages, seed: int, cache_pages: bool = True) -> None:
    global _SAMPLER
    import os

    worker_seed = seed * 1000 + os.getpid() % 1000
    if kind == "detector":
        _SAMPLER = DetectorSampler(pages, worker_seed)
    else:
        _SAMPLER = ClassifierSampler(pages, worker_seed, cache_pages)
        if cache_pages:
            _SAMPLER.warm()


def worker_batch(args: tuple[int, int]) -> int:
    """Builds one batch of `size` samples in the worker; returns its size (the arrays stay in the worker:
    pickling them back would charge the baseline for IPC the original's shared-memory loader avoided)."""
    start, size = args
    samples = [_SAMPLER(start + i) for i in range(size)]
    if isinstance(samples[0][1], dict):
        collate(samples)
    else:
        np.stack([image for image, _ in samples])
    return size
