"""TF Serving's REST API shapes (https://www.tensorflow.org/tfx/serving/api_rest), for the page
recogniser's one input (`images`, encoded pages) and its padded outputs, so that one client talks to
this server and to a real TF Serving alike.

Request: row format `{"instances": [{"b64": ...}, ...]}` (or `[{"images": {"b64": ...}}, ...]`), or
columnar `{"inputs": {"images": [{"b64": ...}]}}` (or `{"inputs": [{"b64": ...}]}`).
Response: `{"predictions": [{output: value, ...} per page]}` for the row format, `{"outputs": {output:
[value per page]}}` for the columnar one. Errors: `{"error": "..."}`.
"""

from __future__ import annotations

import base64
import binascii

import numpy as np

from kuzushiji_tf.recognition.contract import (
    CLASS_PROBS,
    CODEPOINTS,
    CODES,
    COUNT,
    DET_SCORES,
    INPUT_NAME,
    OUT_BOXES,
    OUTPUT_KEYS,
    SHORT_SIDE,
    SIGNATURE,
    TOPK_CLASS_IDS,
    TOPK_CODEPOINTS,
    TOPK_PROBS,
    output_specs,
)
from kuzushiji_tf.recognition.postprocess import page_results
from kuzushiji_tf.serving.uploads import UploadError


def _decode_instance(instance, index: int) -> bytes:
    if isinstance(instance, dict) and INPUT_NAME in instance and len(instance) == 1:
        instance = instance[INPUT_NAME]
    if not (isinstance(instance, dict) and set(instance) == {"b64"} and isinstance(instance["b64"], str)):
        raise UploadError(400, f'instance {index}: expected {{"b64": "<base64 of a JPEG/PNG page>"}}')
    try:
        return base64.b64decode(instance["b64"], validate=True)
    except (binascii.Error, ValueError):
        raise UploadError(400, f"instance {index}: b64 is not valid base64") from None


def parse_predict(body, max_instances: int) -> tuple[list[bytes], bool]:
    """(encoded pages, row_format) of a predict request body (already parsed JSON)."""
    if not isinstance(body, dict):
        raise UploadError(400, 'request body must be a JSON object with "instances" or "inputs"')
    signature = body.get("signature_name", SIGNATURE)
    if signature != SIGNATURE:
        raise UploadError(400, f'serving signature name: "{signature}" not found in signature def')
    if ("instances" in body) == ("inputs" in body):
        raise UploadError(400, 'request must have exactly one of "instances" (row format) or "inputs" (columnar)')
    row = "instances" in body
    values = body["instances"] if row else body["inputs"]
    if not row and isinstance(values, dict):
        if set(values) != {INPUT_NAME}:
            raise UploadError(400, f'inputs: the signature\'s only input is "{INPUT_NAME}"')
        values = values[INPUT_NAME]
    if not isinstance(values, list) or not values:
        raise UploadError(400, "instances/inputs must be a non-empty list of pages")
    if len(values) > max_instances:
        raise UploadError(413, f"{len(values)} pages in one request; at most {max_instances}")
    return [_decode_instance(value, i) for i, value in enumerate(values)], row


def padded_outputs(result: dict, max_chars: int) -> dict:
    """One page's outputs as the SavedModel gives them: every array padded to `max_chars`, as lists."""
    n = len(result[CODES])
    pad = max_chars - n

    def padded(values, fill, dtype):
        array = np.asarray(values, dtype)
        if pad > 0:
            width = [(0, pad)] + [(0, 0)] * (array.ndim - 1)
            array = np.pad(array, width, constant_values=fill)
        return array

    k = np.shape(result[TOPK_PROBS])[-1] if np.ndim(result[TOPK_PROBS]) == 2 else 0
    return {
        TOPK_CLASS_IDS: padded(np.reshape(result[TOPK_CLASS_IDS], (n, k)), 0, np.int64).tolist(),
        TOPK_CODEPOINTS: padded(np.reshape(result[TOPK_CODEPOINTS], (n, k)), 0, np.int64).tolist(),
        TOPK_PROBS: padded(np.reshape(result[TOPK_PROBS], (n, k)), 0, np.float64).round(6).tolist(),
        CODEPOINTS: padded(result[CODEPOINTS], 0, np.int64).tolist(),
        CODES: list(result[CODES]) + [""] * pad,
        DET_SCORES: padded(result[DET_SCORES], 0, np.float64).round(6).tolist(),
        CLASS_PROBS: padded(result[CLASS_PROBS], 0, np.float64).round(6).tolist(),
        OUT_BOXES: padded(np.reshape(result[OUT_BOXES], (n, 4)), 0, np.float64).round(3).tolist(),
        COUNT: n,
    }


def predict_response(pages: list[dict], row: bool) -> dict:
    if row:
        return {"predictions": pages}
    return {"outputs": {key: [page[key] for page in pages] for key in pages[0]}}


def results_from_response(response: dict) -> list[dict]:
    """A predict response (row or columnar, from this server or TF Serving) -> per page the valid entries
    trimmed to `count`, as `recognition.postprocess.page_results` gives them, in the signature's dtypes
    (every detection: `page_text.page_record` flags the uncertain ones; a Kaggle submission drops them with
    `postprocess.confident`)."""
    # SHORT_SIDE is not read: a model exported before the scale policy does not give it.
    keys = [key for key in OUTPUT_KEYS if key != SHORT_SIDE]
    if "predictions" in response:
        outputs = {key: [page[key] for page in response["predictions"]] for key in keys}
    elif "outputs" in response:
        outputs = response["outputs"]
    else:
        raise ValueError(f"not a predict response: {str(response)[:200]}")
    batch = {key: np.asarray(outputs[key]) for key in keys}  # the padding rows keep k on an empty page
    dtypes = {key: dtype for key, (_, dtype) in output_specs(0, 0).items()}
    results = []
    for index in range(len(batch[COUNT])):
        result = page_results(batch, index)
        results.append({key: value if key == CODES else value.astype(dtypes[key]) for key, value in result.items()})
    return results
