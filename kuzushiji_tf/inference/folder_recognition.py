"""Recognise a folder of scans for researchers: per page a transcription (.txt, one column a line, in
reading order) and its data (.json), a summary.csv over all pages, resumable after a kill.

Each page's outputs are written under temporary names and renamed, the .json last, so a page whose .json
exists is complete and a rerun skips it. A bad file is a `failed` row of summary.csv with its reason,
never the end of the run. Memory stays bounded: one batch of pages is in flight at a time.
"""
from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from kuzushiji_tf.atomic_files import write_atomic
from kuzushiji_tf.inference.batch_recognition import recognize_files
from kuzushiji_tf.inference.page_text import page_record, page_text
from kuzushiji_tf.kaggle.images import DEFAULT_MAX_PIXELS, ImageError, inspect_image, load_image

SCAN_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff")
SUMMARY = "summary.csv"
SUMMARY_FIELDS = ("page", "status", "characters", "columns", "mean_confidence", "error")
# Formats and modes the serving graph decodes itself; anything else (TIFF, CMYK JPEG, 16-bit PNG) is
# decoded here and sent as an 8-bit RGB PNG.
PASS_THROUGH = {("JPEG", "RGB"), ("JPEG", "L"), ("PNG", "RGB"), ("PNG", "L"), ("PNG", "RGBA"), ("PNG", "P"), ("PNG", "LA")}


@dataclass(frozen=True)
class Scan:
    path: Path
    name: str  # path relative to the input folder (or the file name), with its suffix: the outputs' stem

    def outputs(self, out_dir: Path) -> dict[str, Path]:
        base = out_dir / self.name
        return {"txt": base.with_name(base.name + ".txt"), "json": base.with_name(base.name + ".json"),
                "png": base.with_name(base.name + ".png")}


def find_scans(inputs: Iterable[str | Path]) -> list[Scan]:
    """One folder (searched recursively for JPEG/PNG/TIFF, sorted) or a list of files."""
    inputs = [Path(p) for p in inputs]
    if len(inputs) == 1 and inputs[0].is_dir():
        root = inputs[0]
        files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in SCAN_SUFFIXES)
        return [Scan(p, p.relative_to(root).as_posix()) for p in files]
    scans, seen = [], {}
    for path in inputs:
        if path.is_dir():
            raise ValueError(f"{path}: give one folder, or a list of files, not both")
        if path.name in seen:
            raise ValueError(f"{path} and {seen[path.name]} share a file name: their outputs would collide")
        seen[path.name] = path
        scans.append(Scan(path, path.name))
    return scans


def encode_for_recognizer(path: Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> bytes:
    """The bytes the recogniser takes: the file itself when the graph can decode it, else an RGB PNG."""
    info = inspect_image(path, max_pixels=max_pixels, formats=("JPEG", "PNG", "TIFF", "MPO"))
    if (info.format, info.mode) in PASS_THROUGH:
        return path.read_bytes()
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(load_image(path, max_pixels=max_pixels, formats=None)).save(buffer, format="PNG")
    return buffer.getvalue()


def _summary_row(name: str, record: dict) -> dict:
    probs = [c["class_probability"] for c in record["characters"]]
    return {"page": name, "status": "ok", "characters": len(record["characters"]), "columns": len(record["columns"]),
            "mean_confidence": f"{np.mean(probs):.4f}" if probs else "", "error": ""}


def recognize_folder(serve, vocabulary: list[tuple[str, str]], scans: list[Scan], out_dir: str | Path, *,
                     batch_size: int = 4, force: bool = False, visualize: bool = False, progress: bool = True,
                     max_pixels: int = DEFAULT_MAX_PIXELS, log: Callable[[str], None] = lambda line: None) -> list[dict]:
    """Writes every scan's .txt/.json (and .png with `visualize`) and summary.csv; returns the summary rows
    (status `ok`, `skipped` = complete from an earlier run, or `failed` with the error)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    translation = dict(vocabulary)

    def complete(scan: Scan) -> bool:
        files = scan.outputs(out_dir)
        return files["json"].is_file() and files["txt"].is_file() and (not visualize or files["png"].is_file())

    rows: dict[str, dict] = {}
    todo = [scan for scan in scans if force or not complete(scan)]
    pending = {scan.name for scan in todo}
    for scan in scans:
        if scan.name not in pending:
            record = json.loads(scan.outputs(out_dir)["json"].read_text(encoding="utf-8"))
            rows[scan.name] = {**_summary_row(scan.name, record), "status": "skipped"}
    if len(todo) < len(scans):
        log(f"{len(scans) - len(todo)} page(s) already done in {out_dir} (--force redoes them)")
    by_path = {scan.path: scan for scan in todo}
    for found in recognize_files(serve, [scan.path for scan in todo], batch_size=batch_size, progress=progress,
                                 load=lambda path: encode_for_recognizer(path, max_pixels)):
        scan = by_path[found.path]
        if found.error:
            rows[scan.name] = {"page": scan.name, "status": "failed", "characters": "", "columns": "",
                               "mean_confidence": "", "error": found.error}
            continue
        try:
            info = inspect_image(scan.path, max_pixels=max_pixels, formats=None)
            record = page_record(scan.name, found.result, translation, size=(info.width, info.height))
            files = scan.outputs(out_dir)
            if visualize:
                from kuzushiji_tf.visualization import draw_page

                picture = draw_page(load_image(scan.path, max_pixels=max_pixels, formats=None), found.result["codes"],
                                    pred_boxes=found.result["boxes"], translation=translation)
                buffer = io.BytesIO()
                picture.save(buffer, format="PNG")
                write_atomic(files["png"], buffer.getvalue(), make_parents=True)
            write_atomic(files["txt"], page_text(record), make_parents=True)
            write_atomic(files["json"], json.dumps(record, ensure_ascii=False, indent=1), make_parents=True)
            rows[scan.name] = _summary_row(scan.name, record)
        except (OSError, ImageError) as error:
            rows[scan.name] = {"page": scan.name, "status": "failed", "characters": "", "columns": "",
                               "mean_confidence": "", "error": str(error)}
    ordered = [rows[scan.name] for scan in scans]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=SUMMARY_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(ordered)
    write_atomic(out_dir / SUMMARY, buffer.getvalue(), make_parents=True)
    return ordered
