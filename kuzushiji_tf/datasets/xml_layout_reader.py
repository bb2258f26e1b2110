"""A folder of page images with PAGE-XML or ALTO files beside them -> the same validated `Page`s as the Kaggle
and CODH readers (`kuzushiji-build-records --layout page|alto`).

Files: every *.xml under the folder whose root is the layout's (`layout_xml.root_kind`); other XML (a METS
file, Transkribus' metadata.xml, the other layout's files) is not read. One file is one page; its glyphs
are the page's characters, in file order (`page_xml_reader`, `alto_reader`).

Image: the file's own name for it (PAGE imageFilename, ALTO fileName), looked for beside the file, in the
data folder (OCR-D names images from the workspace root) and in the file's parent folder (Transkribus puts
its PAGE files in `page/` below the images); a name that leads outside the data folder is not opened.
Failing that, the file's own stem with an image suffix, beside it or in its parent folder (`0001.xml` ->
`0001.jpg`; our own `scan.jpg.page.xml` -> `scan.jpg`). When the file states its page size, the image must
have it: coordinates of another size of the scan would be wrong everywhere.

Ids and books: the image id is the image's path in the data folder without its suffix, `/` read as `_`
(`doc1/0001.jpg` -> `doc1_0001`); the book is the first folder of that path (one exported document),
or the data folder's own name for images directly in it (a folder of one document's pages). Splits group
pages by book, so a book's pages never straddle training and validation.

Codes: a glyph's text is one character, read as its code point (U+XXXX), or as the code whose character
it is in the table (the Kaggle table writes U+3007 as `0`); the table is the folder's
`unicode_translation.csv`, else the bundled Kaggle one, as for CODH. A character outside the table is
reported with every file and line it occurs on: by default its page is refused (raise: one error listing
them all, after the whole folder is read; skip: the page left out and listed), and with `add_unknown` it is
kept and joins the records' vocabulary, to fine-tune a model on characters it has never seen. It is never
dropped alone: a page with a character silently missing would teach the detector that its ink is
background.

Policy: the Kaggle reader's (see its docstring), a file counting as a row: the first problem stops the
read, or under `on_error="skip"` the page is left out whole and listed; kept + skipped = files read. A file
with no Glyph at all is not a page of characters (an export of a page not yet transcribed): it is left
out and listed in both modes, as CODH's images without rows are not read.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath

from kuzushiji_tf.datasets.alto_reader import read_alto
from kuzushiji_tf.datasets.kaggle_reader import (
    BoxError,
    DataError,
    ReadResult,
    Skipped,
    check_image_id,
    check_on_error,
    checked_box,
    page_image_size,
    read_unicode_translation,
    translation_path,
)
from kuzushiji_tf.datasets.layout_xml import UNREADABLE, LayoutGlyph, LayoutPage, parse, root_kind, xml_files
from kuzushiji_tf.datasets.page_xml_reader import read_page_xml
from kuzushiji_tf.scans.files import SCAN_SUFFIXES
from kuzushiji_tf.scans.images import DEFAULT_MAX_PIXELS
from kuzushiji_tf.structures import Char, Page, char_to_code, code_to_char

READERS = {"page": read_page_xml, "alto": read_alto}
ROOTS = {"page": "PAGE-XML (PcGts)", "alto": "ALTO (alto)"}
# The formats of the scans these tools export; the record builder decodes them all (`prepare_page(formats=)`).
IMAGE_FORMATS = ("JPEG", "MPO", "PNG", "TIFF")
NO_GLYPHS = (
    "no Glyph elements: not transcribed at character level; left out (read as an empty page, its ink would be "
    "learnt as background)"
)
_OWN_SUFFIXES = (".page", ".alto")  # our writers' `scan.jpg.page.xml`
_SHOWN = 12  # unknown characters named in the one-line error; the report file lists them all


@dataclass(frozen=True)
class Place:
    """Where a glyph is: the file (relative to the data folder), its line and id."""

    file: str
    line: int
    glyph_id: str | None

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass
class XmlReadResult(ReadResult):
    """`ReadResult` (rows = the layout's files read) and what the manifest needs beside it."""

    files: list[Path] = field(default_factory=list)  # the layout's files, for the source hash
    unknown: dict[str, list[Place]] = field(default_factory=dict)  # code -> every glyph of it, in file order
    added: dict[str, str] = field(default_factory=dict)  # code -> char joined to the vocabulary (add_unknown)


class UnknownCharacters(DataError):
    """A page refused for its characters outside the vocabulary (only these are collected before raising)."""


class NotTranscribed(DataError):
    """A file without any Glyph: left out and listed in both modes (see the module docstring)."""


def reverse_table(vocabulary: dict[str, str]) -> dict[str, str]:
    """{char: code} for the table's characters that are not their own code point and belong to one code only."""
    counts = Counter(vocabulary.values())
    return {
        char: code
        for code, char in vocabulary.items()
        if counts[char] == 1 and (len(char) != 1 or char_to_code(char) != code)
    }


def glyph_code(text: str, vocabulary: dict[str, str], reverse: dict[str, str]) -> str | None:
    """The code of a glyph's text (see the module docstring), in the vocabulary or not; None when the text
    is not one character."""
    if len(text) == 1 and char_to_code(text) in vocabulary:
        return char_to_code(text)
    if text in reverse:
        return reverse[text]
    if len(text) > 1:  # a base letter and a combining mark, e.g. か + U+3099, is one character: が
        text = unicodedata.normalize("NFC", text)
    return char_to_code(text) if len(text) == 1 else None


def read_xml_folder(
    data_dir: str | Path,
    layout: str,
    *,
    vocabulary: dict[str, str] | None = None,
    add_unknown: bool = False,
    on_error: str = "raise",
    check_images: bool = True,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> XmlReadResult:
    """Reads every file of `layout` ("page" or "alto") under `data_dir` into pages (see the module docstring).
    `vocabulary` defaults to the table of `translation_path(data_dir)`."""
    if layout not in READERS:
        raise ValueError(f"layout must be one of {tuple(READERS)}; received {layout!r}")
    check_on_error(on_error)
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DataError(data_dir, "folder is missing")
    table = translation_path(data_dir)
    if vocabulary is None:
        vocabulary = read_unicode_translation(table)
    reader = _FolderReader(data_dir, layout, vocabulary, add_unknown, check_images, max_pixels)
    result = XmlReadResult(pages=[])
    result.files = [p for p in xml_files(data_dir) if root_kind(p) in (layout, UNREADABLE)]
    if not result.files:
        raise DataError(data_dir, f"holds no {ROOTS[layout]} files (*.xml with that root element)")
    refused_for_unknown = 0
    for path in result.files:
        result.rows += 1
        try:
            page, clipped = reader.read(path, result.unknown)
        except UnknownCharacters as error:
            if on_error == "raise":  # read on, so the one error lists every unknown character of the folder
                refused_for_unknown += 1
                continue
            result.skipped.append(Skipped.from_error(error))
            continue
        except DataError as error:
            if on_error == "raise" and not isinstance(error, NotTranscribed):
                raise
            result.skipped.append(Skipped.from_error(error))
            continue
        result.pages.append(page)
        result.clipped_boxes += clipped
    if refused_for_unknown:
        raise DataError(data_dir, unknown_summary(result.unknown, table, refused_for_unknown))
    result.added = {
        char.code: code_to_char(char.code)
        for page in result.pages
        for char in page.chars
        if char.code not in vocabulary
    }
    return result


def unknown_summary(unknown: dict[str, list[Place]], table: Path, pages: int) -> str:
    """One line: which characters, how often, where (the first places of each), and what to do."""
    glyphs = sum(len(places) for places in unknown.values())
    ordered = sorted(unknown.items(), key=lambda item: (-len(item[1]), item[0]))
    shown = []
    for code, places in ordered[:_SHOWN]:
        where = ", ".join(str(p) for p in places[:3]) + (", ..." if len(places) > 3 else "")
        shown.append(f"{code_to_char(code)!r} {code} x{len(places)} ({where})")
    more = f"; and {len(ordered) - _SHOWN} more" if len(ordered) > _SHOWN else ""
    return (
        f"{len(unknown)} character(s) outside the vocabulary {table} on {glyphs} glyph(s) of {pages} page(s): "
        f"{'; '.join(shown)}{more}. Pass --add-unknown to add them to the vocabulary (to fine-tune on them), "
        "or --on-error skip to leave their pages out (both write the full list to unknown_characters.csv)"
    )


class _FolderReader:
    """Reads one file at a time; remembers which file claimed each image and each image id."""

    def __init__(self, data_dir: Path, layout: str, vocabulary, add_unknown: bool, check_images: bool, max_pixels):
        self.data_dir, self.root = data_dir, data_dir.resolve()
        self.parse_layout = READERS[layout]
        self.vocabulary, self.reverse = vocabulary, reverse_table(vocabulary)
        self.add_unknown, self.check_images, self.max_pixels = add_unknown, check_images, max_pixels
        self.images: dict[Path, Path] = {}  # resolved image -> the file that named it
        self.ids: dict[str, Path] = {}

    def read(self, path: Path, unknown: dict[str, list[Place]]) -> tuple[Page, int]:
        layout_page = self.parse_layout(parse(path), path)
        if not layout_page.glyphs:
            raise NotTranscribed(path, NO_GLYPHS)
        codes = self._codes(path, layout_page.glyphs, unknown)
        image = self._find_image(path, layout_page)
        image_id, book = self._identify(path, layout_page, image)
        width = height = 0
        if self.check_images:
            width, height = self._image_size(path, layout_page, image, image_id)
        chars, clipped = [], 0
        for glyph, code in zip(layout_page.glyphs, codes):
            x0, y0, x1, y1 = glyph.box
            try:
                box, was_clipped = checked_box(code, x0, y0, x1 - x0, y1 - y0, width, height, clip=self.check_images)
            except BoxError as error:
                raise DataError(path, f"{glyph.where}: {error}", line=glyph.line, image_id=image_id) from None
            clipped += was_clipped
            chars.append(Char(code, box))
        outside = [(glyph, code) for glyph, code in zip(layout_page.glyphs, codes) if code not in self.vocabulary]
        if outside and not self.add_unknown:
            listed = ", ".join(f"{code_to_char(code)!r} {code} ({g.where}, line {g.line})" for g, code in outside[:5])
            raise UnknownCharacters(
                path,
                f"{len(outside)} glyph(s) outside the vocabulary: {listed}{', ...' if len(outside) > 5 else ''}; "
                "--add-unknown adds them",
                line=outside[0][0].line,
                image_id=image_id,
            )
        self.images[image.resolve()], self.ids[image_id] = path, path
        return Page(image_id, image, width, height, tuple(chars), source_book=book), clipped

    def _codes(self, path: Path, glyphs: tuple[LayoutGlyph, ...], unknown: dict[str, list[Place]]) -> list[str]:
        codes = []
        for glyph in glyphs:
            code = glyph_code(glyph.text, self.vocabulary, self.reverse)
            if code is None:
                raise DataError(
                    path,
                    f"{glyph.where} holds {glyph.text!r}, {len(glyph.text)} characters: a Glyph is one character",
                    line=glyph.line,
                )
            codes.append(code)
        # Recorded for every file that parses, whatever else is wrong with it: the report lists them all.
        for glyph, code in zip(glyphs, codes):
            if code not in self.vocabulary:
                unknown.setdefault(code, []).append(Place(self._relative(path), glyph.line, glyph.element_id))
        return codes

    def _relative(self, path: Path) -> str:
        """`path` as messages show it: from the data folder, without `..` steps."""
        resolved = Path(path).resolve()
        return resolved.relative_to(self.root).as_posix() if resolved.is_relative_to(self.root) else str(path)

    def _inside(self, path: Path) -> bool:
        return path.resolve().is_relative_to(self.root)

    def _find_image(self, path: Path, page: LayoutPage) -> Path:
        """The page's image (see the module docstring); DataError saying where it looked when there is none."""
        named, tried, outside = [], [], False
        name = page.image_name
        if name and "://" not in name:  # a URL (IIIF, a repository) names no file here
            name = PureWindowsPath(name).as_posix() if "\\" in name else name
            named = [base / name for base in (path.parent, self.data_dir, path.parent.parent)]
            # The name alone, for a path of the machine that wrote the file (C:/Users/..., /home/...).
            leaf = PurePosixPath(name).name
            named += [folder / leaf for folder in (path.parent, path.parent.parent)] if leaf != name else []
        for candidate in named:
            if not self._inside(candidate):
                outside = True
            elif candidate.is_file():
                return candidate
            else:
                tried.append(self._relative(candidate))
        stem = path.name[: -len(path.suffix)]
        for own in _OWN_SUFFIXES:
            stem = stem.removesuffix(own)
        names = [stem] if PurePosixPath(stem).suffix.lower() in SCAN_SUFFIXES else []
        names += [stem + suffix for suffix in SCAN_SUFFIXES]
        for folder in (path.parent, path.parent.parent):
            if not self._inside(folder):
                continue
            found = [folder / n for n in names if (folder / n).is_file()]
            if len(found) > 1:
                raise DataError(
                    path,
                    f"image {page.image_name!r} not found, and {len(found)} images share the file's name "
                    f"({', '.join(self._relative(f) for f in found)}): name the right one in the file",
                    line=page.image_line,
                )
            if found:
                return found[0]
        refused = " (a path leading outside the data folder is not opened)" if outside else ""
        looked = ", ".join(dict.fromkeys(tried))
        raise DataError(
            path,
            f"image file is missing: the file names {repr(page.image_name) if page.image_name else 'no image'}"
            f"{refused}; looked for {looked + ', and ' if looked else ''}{stem}.<"
            f"{'|'.join(s[1:] for s in SCAN_SUFFIXES)}> beside the file and in its parent folder",
            line=page.image_line,
        )

    def _identify(self, path: Path, page: LayoutPage, image: Path) -> tuple[str, str]:
        resolved = image.resolve()
        if resolved in self.images:
            raise DataError(
                path,
                f"image {self._relative(image)} is also the page of {self._relative(self.images[resolved])}: one "
                "file per page (of an OCR-D workspace, read one file group)",
                line=page.image_line,
            )
        parts = resolved.relative_to(self.root).with_suffix("").parts
        image_id = "_".join(parts)
        problem = check_image_id(image_id)
        if problem:
            raise DataError(path, problem, line=page.image_line)
        if image_id in self.ids:
            raise DataError(
                path,
                f"image id {image_id!r} (from {self._relative(image)}) is also that of the page of "
                f"{self._relative(self.ids[image_id])}; rename one image",
                line=page.image_line,
            )
        return image_id, parts[0] if len(parts) > 1 else self.root.name

    def _image_size(self, path: Path, page: LayoutPage, image: Path, image_id: str) -> tuple[int, int]:
        width, height = page_image_size(path, page.image_line, image_id, image, self.max_pixels, IMAGE_FORMATS)
        declared = (page.width, page.height)
        if None not in declared and (round(declared[0]), round(declared[1])) != (width, height):
            raise DataError(
                path,
                f"the file's page is {declared[0]:g}x{declared[1]:g} pixels but its image {self._relative(image)} "
                f"is {width}x{height}: the coordinates are for another image, or another size of it",
                line=page.image_line,
                image_id=image_id,
            )
        return width, height
