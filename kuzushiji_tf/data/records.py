"""Kaggle, CODH, PAGE-XML or ALTO folder -> sharded TFRecords + manifest.json, atomic and resumable.

Each shard is written under a temporary name and renamed only when complete, then a small state file
records its count and sha256. A rerun of the same build skips shards whose state matches their file,
so a killed build finishes where it stopped and ends with the same manifest; the manifest is written
last, so a folder with a manifest is a complete build.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import multiprocessing
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf

from kuzushiji_tf import __version__
from kuzushiji_tf.atomic_files import write_atomic
from kuzushiji_tf.data import schema
from kuzushiji_tf.data.record_images import DEFAULT_CROP_SIZE, DEFAULT_PAGE_SHORT_SIDE, prepare_task
from kuzushiji_tf.datasets import codh_reader as codh
from kuzushiji_tf.datasets import kaggle_reader as reader
from kuzushiji_tf.datasets.book_split import DEFAULT_NUM_FOLDS, split_pages
from kuzushiji_tf.datasets.kaggle_reader import DataError, Skipped
from kuzushiji_tf.datasets.layouts import XML_LAYOUTS, resolve_layout
from kuzushiji_tf.datasets.xml_layout_reader import IMAGE_FORMATS, read_xml_folder
from kuzushiji_tf.evaluation.test_set import which_test_page
from kuzushiji_tf.file_hashes import file_sha256
from kuzushiji_tf.progress import Progress
from kuzushiji_tf.scans.images import DEFAULT_MAX_PIXELS
from kuzushiji_tf.structures import Page, code_to_char

MANIFEST = "manifest.json"
VOCABULARY = "vocabulary.csv"
SKIPPED_REPORT = "skipped.csv"
UNKNOWN_REPORT = "unknown_characters.csv"
STATE_DIR = ".state"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class RecordOptions:
    """How records are built. The defaults are justified where they are defined."""

    fold: int = 0
    num_folds: int = DEFAULT_NUM_FOLDS
    full_data: bool = False
    shards: int = 8
    page_short_side: int = DEFAULT_PAGE_SHORT_SIDE
    crop_size: int = DEFAULT_CROP_SIZE
    on_error: str = "raise"
    max_pixels: int = DEFAULT_MAX_PIXELS

    def __post_init__(self):
        for name in ("shards", "page_short_side", "crop_size", "max_pixels"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive; received {getattr(self, name)}")
        if self.on_error not in reader.ON_ERROR_CHOICES:
            raise ValueError(f"on_error must be one of {reader.ON_ERROR_CHOICES}; received {self.on_error!r}")


@dataclass(frozen=True)
class Shard:
    split: str
    index: int
    count: int
    pages: tuple[Page, ...]

    def name(self, kind: str) -> str:
        return f"{kind}-{self.split}-{self.index:05d}-of-{self.count:05d}.tfrecord"


def plan_shards(split: str, pages: list[Page], shards: int) -> list[Shard]:
    """Round-robin over pages sorted by id, so each shard mixes books and the plan is deterministic."""
    if not pages:
        return []
    ordered = sorted(pages, key=lambda page: page.image_id)
    count = min(shards, len(ordered))
    return [Shard(split, k, count, tuple(ordered[k::count])) for k in range(count)]


def _vocabulary(pages: list[Page], translation: dict[str, str]) -> list[str]:
    """Class ids are the codes present in the labelled pages (all folds, so every fold of a build agrees),
    sorted by code point."""
    codes = {char.code for page in pages for char in page.chars}
    return sorted(codes, key=lambda code: int(code[2:], 16))


def _write_vocabulary(path: Path, vocabulary: list[str], translation: dict[str, str]) -> None:
    write_vocabulary(path, [(code, translation.get(code, code_to_char(code))) for code in vocabulary])


def write_vocabulary(path: str | Path, vocabulary: list[tuple[str, str]]) -> None:
    """`vocabulary.csv` (class_id,code,char) of [(code, char)] indexed by class id, written atomically."""
    rows = ["class_id,code,char"] + [f"{i},{code},{char}" for i, (code, char) in enumerate(vocabulary)]
    write_atomic(Path(path), "\n".join(rows) + "\n")


def read_vocabulary(records_dir: str | Path) -> list[tuple[str, str]]:
    """[(code, char)] indexed by class id."""
    with open(Path(records_dir) / VOCABULARY, newline="", encoding="utf-8") as handle:
        return [(row["code"], row["char"]) for row in csv.DictReader(handle)]


class ShardWriter:
    """Writes TFRecord files under temporary names; `commit` flushes, renames and hashes them, `abort`
    removes them: a crash leaves no file under a shard's name that is not complete."""

    def __init__(self, out_dir: Path, names: list[str]):
        self.out_dir = out_dir
        self.names = list(names)
        self.writers = [tf.io.TFRecordWriter(str(out_dir / (name + ".tmp"))) for name in self.names]
        self.counts = [0] * len(self.names)

    def write(self, which: int, record: bytes) -> None:
        self.writers[which].write(record)
        self.counts[which] += 1

    def commit(self) -> dict:
        files = {}
        for writer, name, count in zip(self.writers, self.names, self.counts):
            writer.close()
            tmp = self.out_dir / (name + ".tmp")
            with open(tmp, "rb+") as handle:
                os.fsync(handle.fileno())
            os.replace(tmp, self.out_dir / name)
            files[name] = {"records": count, "sha256": file_sha256(self.out_dir / name)}
        return files

    def abort(self) -> None:
        for writer, name in zip(self.writers, self.names):
            writer.close()
            (self.out_dir / (name + ".tmp")).unlink(missing_ok=True)


def _shard_done(out_dir: Path, state_path: Path, fingerprint: str) -> dict | None:
    if not state_path.is_file():
        return None
    state = json.loads(state_path.read_text())
    if state.get("fingerprint") != fingerprint:
        return None
    for name, info in state["files"].items():
        path = out_dir / name
        if not path.is_file() or file_sha256(path) != info["sha256"]:
            return None
    return state


def _encode_page_records(prepared, page: Page, class_ids: dict[str, int]) -> tuple[bytes, list[bytes]]:
    codes = [char.code for char in page.chars]
    labels = [class_ids[code] for code in codes]
    page_record = schema.encode_page(
        image_jpeg=prepared.page_jpeg,
        image_id=page.image_id,
        book=page.book,
        original_size=(page.width, page.height),
        stored_size=(prepared.stored_width, prepared.stored_height),
        scale=(prepared.scale_x, prepared.scale_y),
        boxes=prepared.stored_boxes,
        labels=labels,
        codes=codes,
    )
    crop_records = [
        schema.encode_crop(
            image_jpeg=jpeg,
            label=label,
            code=char.code,
            image_id=page.image_id,
            book=page.book,
            source_box=char.box,
            index=i,
        )
        for i, (jpeg, label, char) in enumerate(zip(prepared.crop_jpegs, labels, page.chars))
    ]
    return page_record, crop_records


def _split_counts(pages: list[Page]) -> dict:
    return {
        "pages": len(pages),
        "empty_pages": sum(1 for page in pages if not page.chars),
        "characters": sum(len(page.chars) for page in pages),
        "classes": len({char.code for page in pages for char in page.chars}),
    }


def _read_source(data_dir: Path, layout: str, options: RecordOptions, add_unknown: bool = False):
    """(translation, train ReadResult, test ReadResult, source) of a data folder of `layout`; `source` holds
    the sha256 of every CSV read (of the XML layouts: one sha256 over every file's path and sha256)."""
    source = {"data_dir": str(data_dir.resolve()), "layout": layout}
    if layout in ("codh",) + XML_LAYOUTS:
        table = reader.translation_path(data_dir)
        translation = reader.read_unicode_translation(table)
        if layout == "codh":
            train_read = codh.read_codh(
                data_dir, vocabulary=translation, on_error=options.on_error, max_pixels=options.max_pixels
            )
            for book in codh.find_books(data_dir):
                source[book.csv.relative_to(data_dir).as_posix() + "_sha256"] = file_sha256(book.csv)
        else:
            train_read = read_xml_folder(
                data_dir,
                layout,
                vocabulary=translation,
                add_unknown=add_unknown,
                on_error=options.on_error,
                max_pixels=options.max_pixels,
            )
            _leave_out_test_pages(train_read)
            files = [(path.relative_to(data_dir).as_posix(), file_sha256(path)) for path in train_read.files]
            source[f"{layout}_files"] = len(files)
            source[f"{layout}_files_sha256"] = hashlib.sha256(json.dumps(files).encode()).hexdigest()
            source["add_unknown"] = add_unknown  # it changes the vocabulary, so the fingerprint
        test_read = reader.ReadResult(pages=[])  # neither CODH nor a layout export has test pages
        source["unicode_translation"] = "bundled" if table == reader.BUNDLED_TRANSLATION else "data_dir"
        source[reader.TRANSLATION_CSV + "_sha256"] = file_sha256(table)
        return translation, train_read, test_read, source
    translation = reader.read_unicode_translation(data_dir / reader.TRANSLATION_CSV)
    train_read = reader.read_train(
        data_dir, vocabulary=translation, on_error=options.on_error, max_pixels=options.max_pixels
    )
    test_read = reader.read_test(data_dir, on_error=options.on_error, max_pixels=options.max_pixels)
    for name in (reader.TRAIN_CSV, reader.TRANSLATION_CSV, reader.SAMPLE_SUBMISSION_CSV):
        if (data_dir / name).is_file():
            source[name + "_sha256"] = file_sha256(data_dir / name)
    return translation, train_read, test_read, source


def _leave_out_test_pages(read) -> None:
    """Moves copies of the real test pages (`evaluation.test_set`: by their bytes or id) from `read.pages` to
    `read.skipped`, in both error modes. A layout export is a way those pages could come in under another
    name; the Kaggle sample itself still builds, as the evaluation records it is meant for."""
    kept = []
    for page in read.pages:
        found = which_test_page(page.image_path, page.image_id)
        if found is None:
            kept.append(page)
            continue
        problem = (
            f"the real test page {found} of the bundled kaggle_5p sample: the project's test set never becomes "
            "training data; left out"
        )
        read.skipped.append(Skipped(str(page.image_path), None, page.image_id, problem))
    read.pages = kept


def build_records(
    data_dir: str | Path,
    out_dir: str | Path,
    options: RecordOptions = RecordOptions(),
    *,
    layout: str = "auto",
    add_unknown: bool = False,
    workers: int = 0,
    overwrite: bool = False,
    progress: bool = True,
) -> dict:
    """Builds (or finishes building) the records of `data_dir` in `out_dir`; returns the manifest.

    `layout` is "kaggle", "codh", "page", "alto" or "auto" (decided by what the folder holds:
    `layouts.detect_layout`). `add_unknown` (page and alto only) keeps glyphs of characters outside the
    vocabulary (the code table) and adds them to the vocabulary (`xml_layout_reader`); either way they are listed in
    unknown_characters.csv.
    `workers` processes decode and encode pages (0 = one per core). Raises DataError on bad input
    unless `options.on_error == "skip"`.
    """
    data_dir, out_dir = Path(data_dir), Path(out_dir)
    layout = resolve_layout(data_dir, layout)
    if add_unknown and layout not in XML_LAYOUTS:
        raise ValueError(
            f"--add-unknown is for the {' and '.join(XML_LAYOUTS)} layouts; a {layout} folder's codes must all be "
            f"in its {reader.TRANSLATION_CSV}"
        )
    if overwrite and out_dir.exists():
        shutil.rmtree(out_dir)
    translation, train_read, test_read, source = _read_source(data_dir, layout, options, add_unknown)
    train_pages, val_pages = split_pages(
        train_read.pages, fold=options.fold, num_folds=options.num_folds, full_data=options.full_data
    )
    vocabulary = _vocabulary(train_read.pages, translation)
    class_ids = {code: i for i, code in enumerate(vocabulary)}

    options_dict = dataclasses.asdict(options)
    # The layout is left out of the fingerprint: the CSV names in `source` already differ by layout, and
    # Kaggle builds made before CODH support keep their fingerprint (and so can be resumed).
    fingerprinted = {key: value for key, value in source.items() if key != "layout"}
    fingerprint = hashlib.sha256(
        json.dumps([options_dict, fingerprinted, FORMAT_VERSION], sort_keys=True).encode()
    ).hexdigest()

    out_dir.mkdir(parents=True, exist_ok=True)
    state_dir = out_dir / STATE_DIR
    state_dir.mkdir(exist_ok=True)
    old_manifest = out_dir / MANIFEST
    if old_manifest.is_file() and json.loads(old_manifest.read_text()).get("fingerprint") != fingerprint:
        raise DataError(
            out_dir, "already holds records built from other data or options; choose another --out or pass --overwrite"
        )
    _write_vocabulary(out_dir / VOCABULARY, vocabulary, translation)

    shards = (
        plan_shards("train", train_pages, options.shards)
        + plan_shards("val", val_pages, options.shards)
        + plan_shards("test", test_read.pages, options.shards)
    )
    worker_options = {
        "page_short_side": options.page_short_side,
        "crop_size": options.crop_size,
        "max_pixels": options.max_pixels,
    }
    if layout in XML_LAYOUTS:  # Transkribus, eScriptorium and OCR-D scans are often PNG or TIFF
        worker_options["formats"] = IMAGE_FORMATS
    skipped = list(train_read.skipped) + list(test_read.skipped)
    shard_states, reused = [], 0
    workers = workers or os.cpu_count() or 1
    # spawn, not fork: this process has TensorFlow's threads running, which fork would copy half-alive.
    pool = multiprocessing.get_context("spawn").Pool(workers) if workers > 1 else None
    total = sum(len(shard.pages) for shard in shards)
    try:
        with Progress(total, "pages", label="build_records ", enabled=progress) as bar:
            for shard in shards:
                state_path = state_dir / (shard.name("shard") + ".json")
                state = _shard_done(out_dir, state_path, fingerprint)
                if state is None:
                    state = _write_shard(out_dir, shard, class_ids, worker_options, options, pool, bar)
                    state["fingerprint"] = fingerprint
                    write_atomic(state_path, json.dumps(state, indent=1, sort_keys=True))
                else:
                    reused += 1
                    bar.update(len(shard.pages))
                shard_states.append(state)
    finally:
        if pool is not None:
            pool.close()
            pool.join()

    image_skips = [Skipped(**entry) for state in shard_states for entry in state["skipped"]]
    skipped += image_skips
    dropped = {entry.image_id for entry in image_skips}
    manifest = {
        "format_version": FORMAT_VERSION,
        "created_by": f"kuzushiji_tf {__version__}",
        "fingerprint": fingerprint,
        "source": source,
        "options": options_dict,
        "rows": {
            # Kaggle: rows (pages) of train.csv; CODH: character rows of the coordinate CSVs; page, alto: files.
            {"kaggle": "train_csv", "codh": "coordinate_csv"}.get(layout, f"{layout}_files"): train_read.rows,
            "test_pages_listed": test_read.rows,
            "pages_written": sum(state["pages_written"] for state in shard_states),
            "skipped": len(skipped),
        },
        "splits": {
            "train": _split_counts([page for page in train_pages if page.image_id not in dropped]),
            "val": _split_counts([page for page in val_pages if page.image_id not in dropped]),
            "test": {"pages": sum(1 for page in test_read.pages if page.image_id not in dropped)},
        },
        "vocabulary": {"file": VOCABULARY, "classes": len(vocabulary)},
        "clipped_boxes": train_read.clipped_boxes,
        "skipped": {"count": len(skipped), "report": SKIPPED_REPORT if skipped else None},
        # Sorted by name: a resumed build reloads state files whose key order differs from a fresh one.
        "shards": [
            {"file": name, "kind": name.split("-")[0], "split": name.split("-")[1], **info}
            for name, info in sorted((n, i) for state in shard_states for n, i in state["files"].items())
        ],
    }
    if layout in XML_LAYOUTS:
        unknown = train_read.unknown
        manifest["unknown_characters"] = {
            "count": len(unknown),
            "glyphs": sum(len(places) for places in unknown.values()),
            "added": len(train_read.added),
            "report": UNKNOWN_REPORT if unknown else None,
        }
        if unknown:
            _write_unknown(out_dir / UNKNOWN_REPORT, unknown, train_read.added)
    if skipped:
        _write_skipped(out_dir / SKIPPED_REPORT, skipped)
    write_atomic(out_dir / MANIFEST, json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    manifest["_run"] = {"shards_reused": reused, "shards_written": len(shards) - reused}
    return manifest


def _write_shard(out_dir: Path, shard: Shard, class_ids, worker_options, options, pool, bar) -> dict:
    with_crops = shard.split != "test"
    tasks = [
        (
            str(page.image_path),
            page.image_id,
            np.array([char.box for char in page.chars], np.float32).reshape(-1, 4),
            {**worker_options, "with_crops": with_crops},
        )
        for page in shard.pages
    ]
    results = pool.imap(prepare_task, tasks) if pool is not None else map(prepare_task, tasks)
    writer = ShardWriter(out_dir, [shard.name("pages")] + ([shard.name("crops")] if with_crops else []))
    skipped, written = [], 0
    try:
        for page, (status, value) in zip(shard.pages, results):
            bar.update(1)
            if status == "error":
                error = DataError(page.image_path, value.split(": ", 1)[-1], image_id=page.image_id)
                if options.on_error == "raise":
                    raise error
                skipped.append(dataclasses.asdict(Skipped.from_error(error)))
                continue
            page_record, crop_records = _encode_page_records(value, page, class_ids)
            writer.write(0, page_record)
            for record in crop_records:
                writer.write(1, record)
            written += 1
    except BaseException:
        writer.abort()
        raise
    return {"files": writer.commit(), "skipped": skipped, "pages_written": written}


def _write_skipped(path: Path, skipped: list[Skipped]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["file", "line", "image_id", "problem"])
    for entry in skipped:
        writer.writerow([entry.file, entry.line or "", entry.image_id or "", entry.problem])
    write_atomic(path, buffer.getvalue())


def _write_unknown(path: Path, unknown: dict, added: dict[str, str]) -> None:
    """One row per character outside the vocabulary (the code table): how many glyphs, in how many files, whether it joined the
    vocabulary (`added`) or its pages were left out, and every place (file:line) it occurs."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["code", "char", "glyphs", "files", "vocabulary", "places"])
    for code, places in sorted(unknown.items(), key=lambda item: (-len(item[1]), item[0])):
        files = len({place.file for place in places})
        status = "added" if code in added else "pages left out"
        writer.writerow([code, code_to_char(code), len(places), files, status, " ".join(map(str, places))])
    write_atomic(path, buffer.getvalue())
