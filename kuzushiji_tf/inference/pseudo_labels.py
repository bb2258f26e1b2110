"""Pseudo-labels (REFERENCE): the detector and classifier read the unlabelled test pages, and every
character confident on both counts becomes a training crop, in the same record schema as the real ones.

Crops are cut from the stored test page (the records' capped short side), at the records' crop size and
the stored 1.4 x factor, so the classifier's training view treats them exactly as its other crops.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf

from kuzushiji_tf.data import pipeline, schema
from kuzushiji_tf.data.box_ops import STORED_CROP_FACTOR
from kuzushiji_tf.atomic_files import write_atomic
from kuzushiji_tf.data.records import MANIFEST, VOCABULARY, ShardWriter, read_vocabulary
from kuzushiji_tf.evaluation import evaluate
from kuzushiji_tf.inference.page_recognizer import PageRecognizer, RecognizerOptions, crop_characters
from kuzushiji_tf.progress import Progress

CROP_JPEG_QUALITY = 95  # as the record builder's crops


@dataclass(frozen=True)
class PseudoLabelOptions:
    det_threshold: float = 0.5  # REFERENCE: detector score >= 0.5 ...
    cls_threshold: float = 0.9  # ... and softmax >= 0.9
    short_side: int = 832
    nms_iou: float = 0.5
    shards: int = 4


def confident(det_scores: np.ndarray, class_probs: np.ndarray, det_threshold: float, cls_threshold: float) -> np.ndarray:
    """bool [n]: the predictions kept as pseudo-labels, those at or above both thresholds."""
    return (np.asarray(det_scores) >= det_threshold) & (np.asarray(class_probs) >= cls_threshold)


def _encode_jpeg(crop: np.ndarray) -> bytes:
    return tf.io.encode_jpeg(np.clip(np.round(crop), 0, 255).astype(np.uint8), quality=CROP_JPEG_QUALITY).numpy()


def label_page(recognizer: PageRecognizer, image: tf.Tensor, options: PseudoLabelOptions):
    """(boxes float32 [k, 4] page pixels, class ids int32 [k], det scores [k], class probs [k]) kept."""
    boxes, det_scores = recognizer.detect(image)
    probs = recognizer.classify(image, boxes).numpy() if len(boxes) else np.zeros((0, 1), np.float32)
    class_ids, class_probs = probs.argmax(axis=1).astype(np.int32), probs.max(axis=1, initial=0.0)
    keep = confident(det_scores.numpy(), class_probs, options.det_threshold, options.cls_threshold)
    return boxes.numpy()[keep], class_ids[keep], det_scores.numpy()[keep], class_probs[keep]


def write_pseudo_labels(detector, classifier, records_dir: str | Path, out_dir: str | Path,
                        options: PseudoLabelOptions = PseudoLabelOptions(), *, truth=None,
                        progress: bool = True) -> dict:
    """Labels the test pages of `records_dir` and writes `crops-train-*.tfrecord` + manifest.json to `out_dir`.

    Shards are written under temporary names and renamed when complete; the manifest is written last.
    `truth` (`{image_id: (codes, boxes_xywh)}`, e.g. a synthetic set's test_truth.csv) adds the
    pseudo-labels' precision against it (Kaggle's point-in-box rule with labels) to the manifest.
    Returns the manifest.
    """
    records_dir, out_dir = Path(records_dir), Path(out_dir)
    if not (records_dir / MANIFEST).is_file():
        raise FileNotFoundError(f"{records_dir / MANIFEST} is missing: build the records with tools/build_records.py first")
    source = json.loads((records_dir / MANIFEST).read_text())
    vocabulary = read_vocabulary(records_dir)
    codes = [code for code, _ in vocabulary]
    crop_size = int(source["options"]["crop_size"])
    recognizer = PageRecognizer(detector, classifier, codes, RecognizerOptions(
        short_side=options.short_side, det_threshold=options.det_threshold, nms_iou=options.nms_iou))
    out_dir.mkdir(parents=True, exist_ok=True)
    pages = source["splits"]["test"]["pages"]
    shards = max(1, min(options.shards, pages))
    names = [f"crops-train-{k:05d}-of-{shards:05d}.tfrecord" for k in range(shards)]
    writer = ShardWriter(out_dir, names)
    per_class, predictions, start = {}, {}, time.perf_counter()
    try:
        with Progress(pages, "pages", label="pseudo-label ", enabled=progress) as bar:
            for k, page in enumerate(pipeline.read_test_pages(records_dir)):
                image_id, book = page["image_id"].numpy().decode(), page["book"].numpy().decode()
                boxes, class_ids, _, _ = label_page(recognizer, page["image"], options)
                scale = page["scale"].numpy()  # (sy, sx): original -> stored pixels
                original = boxes / np.array([scale[1], scale[0], scale[1], scale[0]], np.float32)
                crops = crop_characters(page["image"], boxes, crop_size, STORED_CROP_FACTOR).numpy() if len(boxes) else []
                for index, (crop, class_id, box) in enumerate(zip(crops, class_ids, original)):
                    record = schema.encode_crop(image_jpeg=_encode_jpeg(crop), label=int(class_id), code=codes[class_id],
                                                image_id=image_id, book=book, source_box=box.tolist(), index=index)
                    writer.write(k % shards, record)
                    per_class[codes[class_id]] = per_class.get(codes[class_id], 0) + 1
                centres = (original[:, :2] + original[:, 2:]) / 2
                predictions[image_id] = [(codes[c], float(x), float(y)) for c, (x, y) in zip(class_ids, centres)]
                bar.update(1)
    except BaseException:
        writer.abort()
        raise
    files = [{"file": name, **info} for name, info in writer.commit().items()]
    (out_dir / VOCABULARY).write_bytes((records_dir / VOCABULARY).read_bytes())
    manifest = {
        "kind": "pseudo_labels", "source_records": str(records_dir), "options": asdict(options),
        "pages": pages, "crops": sum(f["records"] for f in files), "classes": len(per_class), "crop_size": crop_size,
        "seconds": round(time.perf_counter() - start, 2), "shards": files,
    }
    if truth is not None:
        scored = {i: truth[i] for i in predictions if i in truth}
        result = evaluate(scored, {i: predictions[i] for i in scored})
        manifest["precision_vs_truth"] = {"pages": len(scored), "precision": result.labelled.precision,
                                          "tp": result.labelled.tp, "fp": result.labelled.fp,
                                          "detection_precision": result.detection.precision}
    write_atomic(out_dir / MANIFEST, json.dumps(manifest, indent=2))
    return manifest
