"""The one place that picks a backend for an export folder and loads it: above both backends, so that
neither imports the other and callers need not know which one a folder holds."""

from __future__ import annotations

from pathlib import Path

from kuzushiji_tf.recognition.contract import BACKENDS, PageModel, model_backend


def load_page_model(path: str | Path, backend: str = "auto", **backend_options) -> PageModel:
    """The page recogniser exported at `path`, run by `backend` (`auto`: the folder's own kind).
    `backend_options` go to the ONNX backend (e.g. intra_op_num_threads)."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}: choose one of {', '.join(BACKENDS)}")
    found = model_backend(path)
    if backend != "auto" and backend != found:
        raise FileNotFoundError(
            f"{path}: holds a {found} export, not {backend}; export one with "
            f"kuzushiji-export --format {'onnx' if backend == 'onnx' else 'savedmodel'}"
        )
    # Imported here, not above: loading an ONNX export must not import TensorFlow, nor a SavedModel ONNX Runtime.
    if found == "onnx":
        from kuzushiji_tf.backends.onnx.runtime import OnnxPageModel

        return OnnxPageModel(path, **backend_options)
    from kuzushiji_tf.backends.tf.saved_model import SavedModelPageModel

    return SavedModelPageModel(path)
