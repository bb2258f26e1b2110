"""The exported page recogniser as a Beam RunInference model handler.

Examples are encoded pages (JPEG/PNG bytes); each prediction is the page's results
(`page_model.page_results`) or, for a page the recogniser refuses, the one-line reason as a string, so a
bad page becomes one dead-letter row, not a failed batch retried until the job gives up. The model is
loaded once per worker process (RunInference's shared handle); on a bucket it is copied to local disk
first, since TensorFlow and ONNX Runtime load from local files. The shipped model (or a model package) is
rebuilt where the worker runs, once per machine (`pretrained`: the user cache, built under a lock).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from apache_beam.ml.inference.base import ModelHandler, PredictionResult

from kuzushiji_tf.backends.loading import load_page_model
from kuzushiji_tf.beam_recognition import storage
from kuzushiji_tf.pretrained import SHIPPED, choose_page_model, is_package
from kuzushiji_tf.recognition.batch_recognition import run_batch
from kuzushiji_tf.recognition.contract import PageModel


def _not_beams_memory_warning(record: logging.LogRecord) -> bool:
    # Beam 2.77 reads memory use only when torch imports (ml/inference/base.py imports `resource` together with
    # its torch-based model manager), and warns at every model load without it; the metric is all that is lost.
    return "memory usage cannot be fetched" not in record.getMessage()


def local_model_folder(model: str, backend: str = "auto") -> Path:
    """A local export folder for `model`: the shipped model's or a package's rebuilt export (built on first
    use), a local export as it is, or a bucket's copied to local disk."""
    if model == SHIPPED or (storage.is_local(model) and is_package(model)):
        return choose_page_model(model, backend=backend, log=logging.getLogger(__name__).warning).path
    return storage.local_copy(model)


class PageModelHandler(ModelHandler[bytes, PredictionResult, PageModel]):
    def __init__(self, model_path: str, *, max_batch_size: int = 4, backend: str = "auto"):
        # Batches of 1..max_batch_size pages: BatchElements sizes them by their measured cost in between.
        super().__init__(min_batch_size=1, max_batch_size=max_batch_size)
        self._model_path, self._backend = str(model_path), backend

    def load_model(self) -> PageModel:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        logging.getLogger().addFilter(_not_beams_memory_warning)
        return load_page_model(local_model_folder(self._model_path, self._backend), self._backend)

    def run_inference(
        self, batch: Sequence[bytes], model: PageModel, inference_args: dict[str, Any] | None = None
    ) -> Iterable[PredictionResult]:
        # The example is not carried on: the page's bytes are dropped as soon as its batch has run.
        return [
            PredictionResult(None, result if error is None else error, model_id=self._model_path)
            for result, error in run_batch(model, list(batch))
        ]

    def get_num_bytes(self, batch: Sequence[bytes]) -> int:
        return sum(len(page) for page in batch)

    def get_metrics_namespace(self) -> str:
        return "kuzushiji_tf"
