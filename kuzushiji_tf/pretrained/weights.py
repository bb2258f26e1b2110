"""A model's weights as one .npz of arrays keyed by variable path (`conv1_conv/kernel`), float16 to fit the
repository, and back into a model built by `models.builders`.

Paths, not positions: a model built by another version of the project that renamed or reordered a layer fails
loudly (`set_weights` names the paths that differ) instead of loading a kernel into the wrong layer. The
.npz is read with allow_pickle=False, so a package holds arrays only, never code.
"""

from __future__ import annotations

import io
from pathlib import Path

import keras
import numpy as np

from kuzushiji_tf.atomic_files import write_atomic

FLOAT16_MAX = float(np.finfo(np.float16).max)


def weight_arrays(model: keras.Model, float16: bool = True) -> dict[str, np.ndarray]:
    """{variable path: value} of every weight of `model`, trainable or not (batch-norm statistics too).
    With `float16`, kernels (2 or more axes: nearly all the bytes) are stored as float16; vectors (biases,
    batch-norm scales and statistics) stay float32: they weigh little, and a variance below float16's
    smallest normal (6e-5) would lose its digits. A kernel with a value past float16's range stays float32."""
    arrays = {}
    for variable in model.weights:
        value = np.asarray(keras.ops.convert_to_numpy(variable))
        if value.dtype.kind == "f":
            value = value.astype(np.float32)
            if float16 and value.ndim >= 2 and (value.size == 0 or np.abs(value).max() <= FLOAT16_MAX):
                value = value.astype(np.float16)
        if variable.path in arrays:
            raise ValueError(f"two weights of {model.name} share the path {variable.path!r}")
        arrays[variable.path] = value
    return arrays


def save_weights(model: keras.Model, path: str | Path, float16: bool = True) -> Path:
    """`weight_arrays(model, float16)` as an uncompressed .npz (float16 barely compresses), written atomically."""
    buffer = io.BytesIO()
    np.savez(buffer, **weight_arrays(model, float16))
    return write_atomic(path, buffer.getvalue())


def load_weights(model: keras.Model, path: str | Path) -> keras.Model:
    """`model` with the weights of the .npz at `path` (see `set_weights`)."""
    with np.load(path, allow_pickle=False) as stored:
        return set_weights(model, {name: stored[name] for name in stored.files}, str(path))


def set_weights(model: keras.Model, arrays: dict[str, np.ndarray], source: str) -> keras.Model:
    """Assigns `arrays` to `model`'s variables by path, cast to each variable's dtype; ValueError naming
    `source` when the paths or shapes differ (the arrays were saved from another architecture)."""
    paths = [variable.path for variable in model.weights]
    missing, extra = sorted(set(paths) - set(arrays)), sorted(set(arrays) - set(paths))
    if missing or extra:
        raise ValueError(
            f"{source}: its weights do not fit {model.name} ({len(missing)} of the model's variables missing, "
            f"e.g. {missing[:2]}; {len(extra)} unknown, e.g. {extra[:2]})"
        )
    for variable in model.weights:
        value = arrays[variable.path]
        if tuple(value.shape) != tuple(variable.shape):
            raise ValueError(
                f"{source}: {variable.path} has shape {tuple(value.shape)}, the model's variable {tuple(variable.shape)}"
            )
        variable.assign(value.astype(keras.backend.standardize_dtype(variable.dtype)))
    return model
