"""Pseudo-labels (docs/recipe.md): the detector and classifier read unlabelled pages, and every character confident
on both counts becomes a training crop, in the same record schema as the real ones.

Two sources of unlabelled pages:

- `write_pseudo_labels`: the test pages of a records folder (the recipe's);
- `write_image_pseudo_labels`: a folder of real scans with no labels and no records (self-training on the
  real domain). Each image is decoded (JPEG, PNG or TIFF, to RGB, with the record builder's size and
  decompression-bomb checks). It is shrunk to the records' stored page short side and stored as the record
  builder stores a page, a JPEG at its page quality, decoded again. Then it is labelled on the same path as a
  test page. An unreadable image is listed in the manifest's `skipped` and the run goes on. A page of the
  real test set (`kuzushiji_tf.evaluation.test_set`) stops the run before anything is written.

Crops are cut from the stored page, at the records' crop size and the stored 1.4 x factor, so the
classifier's training view treats them exactly as its other crops. `max_per_class` keeps at most that many
crops of each class, the most probable first, so that frequent classes do not swamp the set. The manifest
counts the crops per class and describes their class probabilities (mean and histogram).
"""

from __future__ import annotations

import glob
import hashlib
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf

from kuzushiji_tf.atomic_files import write_atomic
from kuzushiji_tf.backends.tf.page_recognizer import PageRecognizer, crop_characters
from kuzushiji_tf.config import INFERENCE_SHORT_SIDE
from kuzushiji_tf.data import pipeline, schema
from kuzushiji_tf.data.box_ops import STORED_CROP_FACTOR
from kuzushiji_tf.data.record_images import prepare_page
from kuzushiji_tf.data.records import MANIFEST, VOCABULARY, ShardWriter, read_vocabulary, write_vocabulary
from kuzushiji_tf.evaluation.metric import evaluate
from kuzushiji_tf.evaluation.test_set import assert_no_test_ids, assert_not_test_page
from kuzushiji_tf.progress import Progress
from kuzushiji_tf.recognition.contract import RecognizerOptions
from kuzushiji_tf.scans.files import SCAN_SUFFIXES, folder_files
from kuzushiji_tf.scans.images import DEFAULT_MAX_PIXELS
from kuzushiji_tf.structures import book_of

CROP_JPEG_QUALITY = 95  # as the record builder's crops
IMAGE_FORMATS = ("JPEG", "MPO", "PNG", "TIFF")  # Pillow's names; MPO is how Pillow sees many camera JPEGs
DEFAULT_MAX_PER_CLASS = 200  # --images: no class takes more than 200 crops
HISTOGRAM_BINS = 10  # class probabilities in steps of 0.1
CANDIDATES = "candidates.tfrecord.tmp"  # every confident crop, before the per-class cap
# Real scans are also written as page records with every box the detector is confident of, for the
# detector's self-training (`train --task detector --pseudo`), sharded as the crops are.


@dataclass(frozen=True)
class PseudoLabelOptions:
    det_threshold: float = 0.5  # docs/recipe.md: detector score >= 0.5 ...
    cls_threshold: float = 0.9  # ... and softmax >= 0.9
    # Scans' page records: detections scoring in [det_unsure, det_threshold) are written as uncertain
    # boxes (schema.UNCERTAIN_LABEL), which the detector learns as neither character nor background.
    # None: they are left out, so a student learns them as background.
    det_unsure: float | None = None
    short_side: int = INFERENCE_SHORT_SIDE
    nms_iou: float = 0.5
    shards: int = 4
    max_per_class: int | None = None  # None or 0: every confident crop (docs/recipe.md, for test pages)

    def __post_init__(self):
        if self.shards < 1 or self.short_side < 1:
            raise ValueError(f"shards and short_side must be positive; received {self.shards}, {self.short_side}")
        if self.max_per_class is not None and self.max_per_class < 0:
            raise ValueError(f"max_per_class must be >= 0 (0: no cap); received {self.max_per_class}")
        if self.det_unsure is not None and not 0.0 < self.det_unsure < self.det_threshold:
            raise ValueError(
                f"det_unsure must be above 0 and below det_threshold ({self.det_threshold}); received {self.det_unsure}"
            )


def confident(
    det_scores: np.ndarray, class_probs: np.ndarray, det_threshold: float, cls_threshold: float
) -> np.ndarray:
    """bool [n]: the predictions kept as pseudo-labels, those at or above both thresholds."""
    return (np.asarray(det_scores) >= det_threshold) & (np.asarray(class_probs) >= cls_threshold)


def cap_per_class(class_ids: np.ndarray, probs: np.ndarray, max_per_class: int | None) -> np.ndarray:
    """bool [n]: at most `max_per_class` of each class, the most probable first (ties: the earlier one).
    None or 0 keeps everything."""
    class_ids, probs = np.asarray(class_ids), np.asarray(probs, np.float64)
    if not max_per_class:
        return np.ones(len(class_ids), bool)
    order = np.lexsort((np.arange(len(class_ids)), -probs, class_ids))  # class, then probability down
    ranked = class_ids[order]
    rank = np.arange(len(order)) - np.searchsorted(ranked, ranked, side="left")  # position within its class
    keep = np.zeros(len(class_ids), bool)
    keep[order[rank < max_per_class]] = True
    return keep


def class_statistics(class_ids: np.ndarray, probs: np.ndarray, vocabulary: list[tuple[str, str]]) -> dict:
    """The manifest's description of the kept crops: per class (most frequent first) the count and mean
    class probability, and the mean and a histogram of the class probabilities."""
    class_ids, probs = np.asarray(class_ids, np.int64), np.asarray(probs, np.float64)
    per_class = {}
    for class_id in sorted(set(class_ids.tolist()), key=lambda c: (-int((class_ids == c).sum()), c)):
        mine = probs[class_ids == class_id]
        code, char = vocabulary[class_id]
        per_class[code] = {"char": char, "crops": len(mine), "mean_class_probability": round(float(mine.mean()), 4)}
    counts, edges = np.histogram(probs, bins=HISTOGRAM_BINS, range=(0.0, 1.0))
    return {
        "class_probability": {
            "mean": round(float(probs.mean()), 4) if len(probs) else None,
            "histogram": {"edges": [round(float(e), 2) for e in edges], "counts": counts.tolist()},
        },
        "per_class": per_class,
    }


def label_page(
    recognizer: PageRecognizer, image: tf.Tensor, options: PseudoLabelOptions, *, with_detections: bool = False
):
    """(boxes float32 [k, 4] page pixels, class ids int32 [k], det scores [k], class probs [k]) kept; with
    `with_detections` also the detector's boxes for its pseudo-labelled pages, float32 [m, 4], and their
    labels int32 [m]: 0 for every box it is confident of (det score >= det_threshold) whatever its class
    probability, `schema.UNCERTAIN_LABEL` for those scoring from `det_unsure` up to det_threshold.

    The recogniser detects down to `det_unsure` when it is set; NMS and the contained-box step only ever
    let a better box remove a worse one, so the confident boxes are the same as without it."""
    boxes, det_scores = recognizer.detect(image)
    boxes, det_scores = boxes.numpy(), det_scores.numpy()
    sure = det_scores >= options.det_threshold
    # Only confident detections are classified: the uncertain ones are never crops.
    probs = recognizer.classify(image, boxes[sure]).numpy() if sure.any() else np.zeros((0, 1), np.float32)
    class_ids, class_probs = probs.argmax(axis=1).astype(np.int32), probs.max(axis=1, initial=0.0)
    keep = confident(det_scores[sure], class_probs, options.det_threshold, options.cls_threshold)
    kept = boxes[sure][keep], class_ids[keep], det_scores[sure][keep], class_probs[keep]
    if not with_detections:
        return kept
    unsure = ~sure & (det_scores >= (options.det_unsure if options.det_unsure is not None else np.inf))
    page_boxes = np.concatenate([boxes[sure], boxes[unsure]]).reshape(-1, 4)
    labels = np.concatenate(
        [np.zeros(int(sure.sum()), np.int32), np.full(int(unsure.sum()), schema.UNCERTAIN_LABEL, np.int32)]
    )
    return (*kept, page_boxes, labels)


def list_images(sources) -> list[Path]:
    """The image files that `sources` name. Each source is a folder (its files with an image suffix, not
    recursive), a glob pattern, or one file. Sorted within each source, without duplicates. A source that
    names nothing is a FileNotFoundError."""
    sources = [sources] if isinstance(sources, (str, Path)) else list(sources)
    found: dict[Path, None] = {}
    for source in sources:
        path = Path(source)
        if path.is_dir():
            files = folder_files(path, recursive=False)
        elif path.is_file():
            files = [path]
        elif glob.has_magic(str(source)):
            files = sorted(Path(p) for p in glob.glob(str(source)) if Path(p).is_file())
        else:
            raise FileNotFoundError(f"--images {source}: no such folder or file")
        if not files:
            raise FileNotFoundError(f"--images {source}: no image files ({', '.join(SCAN_SUFFIXES)})")
        found.update(dict.fromkeys(files))
    return list(found)


def _encode_jpeg(crop: np.ndarray) -> bytes:
    return tf.io.encode_jpeg(np.clip(np.round(crop), 0, 255).astype(np.uint8), quality=CROP_JPEG_QUALITY).numpy()


def _read_source(records_dir: Path) -> dict:
    if not (records_dir / MANIFEST).is_file():
        raise FileNotFoundError(
            f"{records_dir / MANIFEST} is missing: build the records with kuzushiji-build-records first"
        )
    return json.loads((records_dir / MANIFEST).read_text())


def _prepare_out_dir(out_dir: Path, records_dir: Path) -> list[str]:
    """An older pseudo-label set in `out_dir` loses its manifest first: until the new one is written last,
    the folder is not a complete set. Returns the shard names the old manifest listed (removed at commit
    unless rewritten). Anything else with a manifest there is refused."""
    if out_dir.resolve() == records_dir.resolve():
        raise ValueError(
            f"--out {out_dir} is the records folder itself; write the pseudo-labels to a folder of their own"
        )
    manifest, old_shards = out_dir / MANIFEST, []
    if manifest.is_file():
        old = json.loads(manifest.read_text())
        if old.get("kind") != "pseudo_labels":
            raise ValueError(
                f"--out {out_dir} already holds other records ({MANIFEST} of kind {old.get('kind')!r}); "
                "choose another --out"
            )
        old_shards = [entry["file"] for entry in old.get("shards", []) + old.get("page_shards", [])]
        manifest.unlink()
    out_dir.mkdir(parents=True, exist_ok=True)
    return old_shards


class _Writer:
    """Collects the confident crops of every page in a candidates file, then writes those that the per-class
    cap keeps to the shards (a page's crops to shard page % shards). Shards are renamed when complete; the
    shards of an earlier set (`old_shards`) that were not rewritten and the candidates file are removed."""

    def __init__(self, out_dir: Path, codes: list[str], crop_size: int, shards: int, old_shards: list[str]):
        self.out_dir, self.codes, self.crop_size, self.shards = out_dir, codes, crop_size, shards
        self.old_shards = old_shards
        self.names = [f"crops-train-{k:05d}-of-{shards:05d}.tfrecord" for k in range(shards)]
        self.candidates = out_dir / CANDIDATES
        self.file = tf.io.TFRecordWriter(str(self.candidates))
        self.class_ids, self.probs, self.pages, self.points = [], [], [], []

    def add_page(
        self,
        page_index: int,
        image_id: str,
        image: tf.Tensor,
        scale: np.ndarray,
        boxes: np.ndarray,
        class_ids: np.ndarray,
        class_probs: np.ndarray,
    ) -> None:
        """`boxes` in stored-page pixels, `scale` (sy, sx) original -> stored pixels."""
        original = boxes / np.array([scale[1], scale[0], scale[1], scale[0]], np.float32)
        crops = crop_characters(image, boxes, self.crop_size, STORED_CROP_FACTOR).numpy() if len(boxes) else []
        book = book_of(image_id)
        for index, (crop, class_id, prob, box) in enumerate(zip(crops, class_ids, class_probs, original)):
            self.file.write(
                schema.encode_crop(
                    image_jpeg=_encode_jpeg(crop),
                    label=int(class_id),
                    code=self.codes[class_id],
                    image_id=image_id,
                    book=book,
                    source_box=box.tolist(),
                    index=index,
                )
            )
            centre = (box[:2] + box[2:]) / 2
            self.class_ids.append(int(class_id))
            self.probs.append(float(prob))
            self.pages.append(page_index)
            self.points.append((image_id, self.codes[class_id], float(centre[0]), float(centre[1])))

    def commit(self, max_per_class: int | None) -> tuple[list[dict], np.ndarray]:
        """(shard entries of the manifest, bool [candidates] kept)."""
        self.file.close()
        keep = cap_per_class(np.array(self.class_ids, np.int64), np.array(self.probs), max_per_class)
        writer = ShardWriter(self.out_dir, self.names)
        try:
            if keep.any():
                for j, record in enumerate(tf.data.TFRecordDataset(str(self.candidates))):
                    if keep[j]:
                        writer.write(self.pages[j] % self.shards, record.numpy())
        except BaseException:
            writer.abort()
            raise
        files = [{"file": name, **info} for name, info in writer.commit().items()]
        for stale in set(self.old_shards) - set(self.names):
            (self.out_dir / Path(stale).name).unlink(missing_ok=True)
        self.candidates.unlink(missing_ok=True)
        return files, keep

    def abort(self) -> None:
        self.file.close()
        self.candidates.unlink(missing_ok=True)

    def summary(self, keep: np.ndarray, vocabulary, max_per_class: int | None) -> dict:
        class_ids, probs = np.array(self.class_ids, np.int64)[keep], np.array(self.probs)[keep]
        at_cap = int(
            sum(1 for c in set(class_ids.tolist()) if max_per_class and (class_ids == c).sum() >= max_per_class)
        )
        return {
            "crops": int(keep.sum()),
            "classes": len(set(class_ids.tolist())),
            "crop_size": self.crop_size,
            "candidates": len(keep),
            "capped": {"max_per_class": max_per_class or None, "dropped": int((~keep).sum()), "classes_at_cap": at_cap},
            **class_statistics(class_ids, probs, vocabulary),
        }


def classifier_vocabulary(records_dir: Path, vocabulary: list[tuple[str, str]] | None) -> list[tuple[str, str]]:
    """The classifier's [(code, char)] by class id: `vocabulary` (the one saved beside it) or the records'.
    A classifier fine-tuned with `--init` across vocabularies holds the records' classes and more after
    them; any other vocabulary would give its class ids the records' codes, so it is refused."""
    records = read_vocabulary(records_dir)
    if vocabulary is None:
        return records
    if list(vocabulary[: len(records)]) != records:
        raise ValueError(
            f"the classifier's vocabulary ({len(vocabulary)} classes) does not begin with the records' "
            f"{records_dir / VOCABULARY} ({len(records)} classes): pass the records it was trained on"
        )
    return list(vocabulary)


def _recognizer(detector, classifier, codes, options: PseudoLabelOptions) -> PageRecognizer:
    floor = options.det_threshold if options.det_unsure is None else options.det_unsure
    return PageRecognizer(
        detector,
        classifier,
        codes,
        RecognizerOptions(short_side=options.short_side, det_threshold=floor, nms_iou=options.nms_iou),
    )


def write_pseudo_labels(
    detector,
    classifier,
    records_dir: str | Path,
    out_dir: str | Path,
    options: PseudoLabelOptions = PseudoLabelOptions(),
    *,
    truth=None,
    vocabulary: list[tuple[str, str]] | None = None,
    progress: bool = True,
) -> dict:
    """Labels the test pages of `records_dir` and writes `crops-train-*.tfrecord` + manifest.json to `out_dir`.

    Shards are written under temporary names and renamed when complete; the manifest is written last.
    `truth` (`{image_id: (codes, boxes_xywh)}`, e.g. a synthetic set's test_truth.csv) adds the
    pseudo-labels' precision against it (Kaggle's point-in-box rule with labels) to the manifest.
    `vocabulary` is the classifier's own when it extends the records' (`classifier_vocabulary`); the
    pseudo-labels' vocabulary.csv is that one. Returns the manifest.
    """
    records_dir, out_dir = Path(records_dir), Path(out_dir)
    source = _read_source(records_dir)
    vocabulary = classifier_vocabulary(records_dir, vocabulary)
    codes = [code for code, _ in vocabulary]
    crop_size = int(source["options"]["crop_size"])
    recognizer = _recognizer(detector, classifier, codes, options)
    old_shards = _prepare_out_dir(out_dir, records_dir)
    pages = source["splits"]["test"]["pages"]
    writer = _Writer(out_dir, codes, crop_size, max(1, min(options.shards, pages)), old_shards)
    page_ids, start = [], time.perf_counter()
    try:
        with Progress(pages, "pages", label="pseudo-label ", enabled=progress) as bar:
            for k, page in enumerate(pipeline.read_test_pages(records_dir)):
                image_id = page["image_id"].numpy().decode()
                assert_no_test_ids([image_id], records_dir, "test pages of the records")
                boxes, class_ids, _, class_probs = label_page(recognizer, page["image"], options)
                writer.add_page(k, image_id, page["image"], page["scale"].numpy(), boxes, class_ids, class_probs)
                page_ids.append(image_id)
                bar.update(1)
        files, keep = writer.commit(options.max_per_class)
    except BaseException:
        writer.abort()
        raise
    write_vocabulary(out_dir / VOCABULARY, vocabulary)
    manifest = {
        "kind": "pseudo_labels",
        "source": "records_test_pages",
        "source_records": str(records_dir),
        "options": asdict(options),
        "pages": pages,
        **writer.summary(keep, vocabulary, options.max_per_class),
        "seconds": round(time.perf_counter() - start, 2),
        "shards": files,
    }
    if truth is not None:
        predictions = {image_id: [] for image_id in page_ids}
        for (image_id, code, x, y), kept in zip(writer.points, keep):
            if kept:
                predictions[image_id].append((code, x, y))
        scored = {i: truth[i] for i in predictions if i in truth}
        result = evaluate(scored, {i: predictions[i] for i in scored})
        manifest["precision_vs_truth"] = {
            "pages": len(scored),
            "precision": result.labelled.precision,
            "tp": result.labelled.tp,
            "fp": result.labelled.fp,
            "detection_precision": result.detection.precision,
        }
    write_atomic(out_dir / MANIFEST, json.dumps(manifest, indent=2, ensure_ascii=False))
    return manifest


def write_image_pseudo_labels(
    detector,
    classifier,
    images,
    records_dir: str | Path,
    out_dir: str | Path,
    options: PseudoLabelOptions = PseudoLabelOptions(max_per_class=DEFAULT_MAX_PER_CLASS),
    *,
    max_pixels: int | None = None,
    vocabulary: list[tuple[str, str]] | None = None,
    progress: bool = True,
) -> dict:
    """Labels real scans with no labels: `images` (folders, globs or files, see `list_images`) and writes
    `crops-train-*.tfrecord` + manifest.json to `out_dir`, as `write_pseudo_labels`.

    `records_dir` gives the vocabulary, the crop size, the stored page short side and (unless `max_pixels`)
    the pixel limit. The book of a crop is its image id (the file name without extension) up to the first
    `_` or `-`. Raises `RealTestSetError` before anything is written if an image is a page of the real test
    set; an image that cannot be read is listed in the manifest's `skipped`. `vocabulary`: as
    `write_pseudo_labels`. Returns the manifest.
    """
    records_dir, out_dir = Path(records_dir), Path(out_dir)
    paths = list_images(images)
    for path in paths:  # before any model runs or any file is written
        assert_not_test_page(path)
    source = _read_source(records_dir)
    vocabulary = classifier_vocabulary(records_dir, vocabulary)
    codes = [code for code, _ in vocabulary]
    crop_size = int(source["options"]["crop_size"])
    page_short_side = int(source["options"]["page_short_side"])
    max_pixels = max_pixels or int(source["options"].get("max_pixels", DEFAULT_MAX_PIXELS))
    recognizer = _recognizer(detector, classifier, codes, options)
    old_shards = _prepare_out_dir(out_dir, records_dir)
    writer = _Writer(out_dir, codes, crop_size, max(1, min(options.shards, len(paths))), old_shards)
    page_names = [name.replace("crops-", "pages-", 1) for name in writer.names]
    pages = ShardWriter(out_dir, page_names)
    skipped, page_files, labelled, start = [], [], [], time.perf_counter()
    try:
        with Progress(len(paths), "pages", label="pseudo-label ", enabled=progress) as bar:
            for k, path in enumerate(paths):
                bar.update(1)
                image_id = path.stem
                try:
                    # The record builder's own page preparation: decode (size checks first), shrink, JPEG.
                    prepared = prepare_page(
                        path,
                        image_id,
                        np.zeros((0, 4), np.float32),
                        page_short_side=page_short_side,
                        crop_size=crop_size,
                        with_crops=False,
                        max_pixels=max_pixels,
                        formats=IMAGE_FORMATS,
                    )
                except (ValueError, OSError) as error:  # ImageError is a ValueError
                    skipped.append({"file": str(path), "image_id": image_id, "problem": str(error)})
                    continue
                image = tf.io.decode_jpeg(prepared.page_jpeg, channels=3)  # as schema.decode_page reads a page
                scale = np.array([prepared.scale_y, prepared.scale_x], np.float32)
                boxes, class_ids, _, class_probs, detected, detected_labels = label_page(
                    recognizer, image, options, with_detections=True
                )
                writer.add_page(k, image_id, image, scale, boxes, class_ids, class_probs)
                # The detector learns from every confident box, whatever the classifier thinks of it.
                pages.write(
                    k % len(page_names),
                    schema.encode_page(
                        image_jpeg=prepared.page_jpeg,
                        image_id=image_id,
                        book=book_of(image_id),
                        original_size=(
                            round(prepared.stored_width / prepared.scale_x),
                            round(prepared.stored_height / prepared.scale_y),
                        ),
                        stored_size=(prepared.stored_width, prepared.stored_height),
                        scale=(prepared.scale_x, prepared.scale_y),
                        boxes=detected,
                        labels=detected_labels.tolist(),
                        codes=[""] * len(detected),
                    ),
                )
                labelled.append(k)
                page_files.append(
                    {
                        "image_id": image_id,
                        "file": str(path),
                        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
                        "original_size": [
                            round(prepared.stored_width / prepared.scale_x),
                            round(prepared.stored_height / prepared.scale_y),
                        ],
                        "stored_size": [prepared.stored_width, prepared.stored_height],
                        "candidates": len(boxes),
                        "page_boxes": int((detected_labels != schema.UNCERTAIN_LABEL).sum()),
                        "uncertain_boxes": int((detected_labels == schema.UNCERTAIN_LABEL).sum()),
                    }
                )
        files, keep = writer.commit(options.max_per_class)
        page_shards = [{"file": name, **info} for name, info in pages.commit().items()]
    except BaseException:
        writer.abort()
        pages.abort()
        raise
    kept_per_page = np.bincount(np.array(writer.pages, np.int64)[keep], minlength=len(paths))
    for k, entry in zip(labelled, page_files):
        entry["crops"] = int(kept_per_page[k])
    write_vocabulary(out_dir / VOCABULARY, vocabulary)
    manifest = {
        "kind": "pseudo_labels",
        "source": "images",
        "images": [str(s) for s in ([images] if isinstance(images, (str, Path)) else images)],
        "source_records": str(records_dir),
        "options": asdict(options),
        "page_short_side": page_short_side,
        "max_pixels": max_pixels,
        "pages": len(paths),
        "pages_labelled": len(page_files),
        **writer.summary(keep, vocabulary, options.max_per_class),
        "seconds": round(time.perf_counter() - start, 2),
        "skipped": skipped,
        "page_files": page_files,
        "shards": files,
        "page_shards": page_shards,
        "splits": {"train": {"pages": len(page_files)}},
    }
    write_atomic(out_dir / MANIFEST, json.dumps(manifest, indent=2, ensure_ascii=False))
    return manifest
