"""Japanese fonts for the synthetic pages: where they are, which glyphs they really have, and ink masks.

Brush and handwriting faces (Debian's packages and, from npm, Google Fonts' Yuji and other hands:
`npm_fonts`) give the pages their kuzushiji look; Noto Serif CJK JP is the fallback for glyphs a brush face
lacks. A face "lacks" a glyph when Pillow draws its `.notdef` for it, so coverage is tested by rendering,
not trusted from the font's name.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from kuzushiji_tf.atomic_files import write_atomic
from kuzushiji_tf.errors import KuzushijiError
from kuzushiji_tf.user_cache import cache_dir

FONT_DIR_ENV = "KUZUSHIJI_FONT_DIR"
# Which glyphs each font file draws is remembered in the user cache's glyph_coverage/ (user_cache.CACHE_DIR_ENV
# moves it; "off" checks every time).
_COVERAGE_VERSION = 1  # bump when has_glyph's rule changes: older cache files are then ignored
SYSTEM_FONT_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts", "~/.local/share/fonts", "~/.fonts")
FONT_SUFFIXES = (".ttf", ".otf", ".ttc", ".woff")  # FreeType reads WOFF (zlib) as it is
# File name (lower case) -> face name of the hands (brush and handwriting), with their Debian packages.
HAND_FILES = {
    "kouzanbrushfontsousyo.ttf": "kouzan-sousyo",  # fonts-kouzan-mouhitsu
    "kouzan-mouhitsu-gyosho.ttf": "kouzan-gyosho",
    "kouzan-mouhitsu.ttf": "kouzan-mouhitsu",
    "aoyagikouzant.ttf": "aoyagi-kouzan-t",  # fonts-aoyagi-kouzan-t
    "kiloji.ttf": "kiloji",  # fonts-kiloji (its B/D/P files are the same hand, bolder or proportional)
    "setofont.ttf": "seto",  # fonts-seto
    "kleeone-regular.ttf": "klee-one",  # fonts-klee
    "yozra_.ttf": "yoz-antique",  # fonts-yozvox-yozfont-antique: old-style kana
    "yozrs_.ttf": "yoz",  # fonts-yozvox-yozfont-standard-kana
    # From npm (`npm_fonts.NPM_FONTS`, installed by `make fonts`):
    "yujisyuku_400regular.ttf": "yuji-syuku",
    "yujimai_400regular.ttf": "yuji-mai",
    "zenkurenaido_400regular.ttf": "zen-kurenaido",
    "yomogi_400regular.ttf": "yomogi",
    "yuseimagic_400regular.ttf": "yusei-magic",
}
# Faces whose standard hiragana codes draw hentaigana (a brush あ from 阿, labelled あ as drawn): they
# supply kana forms only, never a book's hand (they have no kanji).
KANA_FORM_FILES = {
    "yuji-hentaigana-akebono-all-400-normal.woff": "yuji-hentaigana-akebono"  # npm @fontsource/...
}
# Faces that draw the Kana Supplement / Kana Extended-A hentaigana; used for those glyphs only (they are
# Mincho faces, whose other glyphs look printed, not written).
HENTAIGANA_FILES = {
    "babelstonehan.ttf": "babelstone-han",  # fonts-babelstone-han
    "hanamina.ttf": "hanamin-a",  # fonts-hanazono
    "ipamjm.ttf": "ipamj-mincho",  # fonts-ipamj-mincho
}
# Kept back for evaluation (a hand no model has seen): never drawn with, even from $KUZUSHIJI_FONT_DIR.
EXCLUDED_FILES = ("aoyagi-soseki.ttf",)
# The Debian packages `make` installs; the same list is in the Makefile's `fonts` target.
FONT_PACKAGES = (
    "fonts-kouzan-mouhitsu",
    "fonts-aoyagi-kouzan-t",
    "fonts-kiloji",
    "fonts-seto",
    "fonts-klee",
    "fonts-yozvox-yozfont-antique",
    "fonts-yozvox-yozfont-standard-kana",
    "fonts-babelstone-han",
    "fonts-hanazono",
    "fonts-ipamj-mincho",
    "fonts-noto-cjk",
)
# Fallback files in order of preference: serif first, it is closer to woodblock print than sans.
FALLBACK_FILES = (
    "notoserifcjk-regular.ttc",
    "notoserifcjkjp-regular.otf",
    "notoserifcjk-bold.ttc",
    "notosanscjk-regular.ttc",
    "notosanscjkjp-regular.otf",
)
REF_EM = 160  # glyphs are drawn once at this em size and resized: one FreeType call per (face, char)
_STROKE_PROBE = "あのにし日人事"  # common kana and kanji whose strokes give a face's stroke width
_PROBE = "あ日"  # a Japanese face must really have these
HENTAIGANA_PROBE = "\U0001b002"  # HENTAIGANA LETTER A-1: a hentaigana face must really have it
_MISSING = "\uffff"  # a noncharacter: no cmap maps it, so it draws `.notdef`
_PROBE_EM = 32  # big enough that no real glyph draws exactly like `.notdef`


class FontNotFoundError(KuzushijiError, RuntimeError):
    """No usable Japanese font: the message says which package to install or which variable to set."""


@dataclass(frozen=True)
class FontFace:
    """One face in one font file (`index` picks the face in a .ttc collection)."""

    name: str
    path: str
    index: int = 0


@dataclass(frozen=True)
class FontSet:
    """The faces a dataset is drawn with: `primary` styles books, `fallback` fills their missing glyphs,
    `hentaigana` draw the kana variants of the Kana Supplement and Kana Extended-A blocks, `kana_forms`
    draw a hentaigana at a standard kana's own code (`KANA_FORM_FILES`)."""

    primary: tuple[FontFace, ...]
    fallback: FontFace | None = None
    hentaigana: tuple[FontFace, ...] = ()
    kana_forms: tuple[FontFace, ...] = ()

    @property
    def faces(self) -> tuple[FontFace, ...]:
        return self.primary + ((self.fallback,) if self.fallback else ()) + self.hentaigana + self.kana_forms

    def face(self, name: str) -> FontFace:
        for face in self.faces:
            if face.name == name:
                return face
        raise KeyError(f"no font face named {name!r}; have {[f.name for f in self.faces]}")


def missing_font_message(searched: list[str]) -> str:
    return (
        "no Japanese font found (searched " + ", ".join(searched or ["nothing"]) + "): install the Debian "
        "packages " + " ".join(FONT_PACKAGES) + " (`make fonts` does), or set "
        f"{FONT_DIR_ENV} to a folder of .ttf/.otf/.ttc fonts"
    )


def font_search_dirs() -> list[Path]:
    """Folders searched for fonts: $KUZUSHIJI_FONT_DIR first, then the system folders."""
    dirs = [Path(os.environ[FONT_DIR_ENV])] if os.environ.get(FONT_DIR_ENV) else []
    return dirs + [Path(d).expanduser() for d in SYSTEM_FONT_DIRS]


def _font_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in FONT_SUFFIXES and p.is_file())


@lru_cache(maxsize=256)
def load_font(path: str, index: int, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size, index=index)


def _jp_index(path: Path) -> int:
    """The Japanese face of a collection (`Noto Serif CJK JP` is index 0 today; do not rely on it)."""
    if path.suffix.lower() != ".ttc":
        return 0
    for index in range(16):
        try:
            family = load_font(str(path), index, 16).getname()[0] or ""
        except OSError:
            break
        if family.endswith(" JP"):
            return index
    return 0


def _draw(font: ImageFont.FreeTypeFont, char: str) -> np.ndarray:
    """The anti-aliased ink of one character, cropped to Pillow's bbox: uint8 [h, w], 255 = full ink."""
    left, top, right, bottom = font.getbbox(char)
    image = Image.new("L", (max(1, right - left), max(1, bottom - top)))
    ImageDraw.Draw(image).text((-left, -top), char, font=font, fill=255)
    return np.asarray(image)


@cache
def _notdef(face: FontFace) -> bytes:
    ink = _draw(load_font(face.path, face.index, _PROBE_EM), _MISSING)
    return ink.tobytes() + bytes(str(ink.shape), "ascii")


@lru_cache(maxsize=65536)
def has_glyph(face: FontFace, char: str) -> bool:
    """True when `face` draws `char` with its own glyph: some ink, and not the `.notdef` box."""
    ink = _draw(load_font(face.path, face.index, _PROBE_EM), char)
    return bool(ink.max() > 0) and ink.tobytes() + bytes(str(ink.shape), "ascii") != _notdef(face)


def coverage_cache_dir() -> Path | None:
    return cache_dir("glyph_coverage")


def _coverage_file(face: FontFace) -> Path | None:
    folder = coverage_cache_dir()
    if folder is None:
        return None
    try:
        stat = os.stat(face.path)
    except OSError:
        return None
    # The file's identity, not its name: a reinstalled or edited font gets a fresh entry.
    key = f"{_COVERAGE_VERSION}|{os.path.abspath(face.path)}|{face.index}|{stat.st_size}|{stat.st_mtime_ns}|{_PROBE_EM}"
    return folder / f"{face.name}-{hashlib.sha1(key.encode()).hexdigest()[:16]}.json"


def drawn_chars(face: FontFace, chars) -> frozenset[str]:
    """The characters of `chars` that `face` draws (`has_glyph`), remembered on disk per font file.

    Checking the whole Kaggle table against every face renders some 40,000 glyphs (15 s); each process
    that builds a charset (every tool run, every page worker) would pay it again. Answers are kept in a
    small JSON file per font file (see user_cache.CACHE_DIR_ENV); a cache that cannot be read or written is ignored.
    """
    chars = list(dict.fromkeys(chars))
    path = _coverage_file(face)
    checked, drawn = set(), set()
    if path is not None and path.is_file():
        try:
            stored = json.loads(path.read_text(encoding="utf-8"))
            checked, drawn = set(stored["checked"]), set(stored["drawn"])
        except (OSError, ValueError, KeyError, TypeError):
            checked, drawn = set(), set()
    todo = [c for c in chars if c not in checked]
    if todo:
        drawn.update(c for c in todo if has_glyph(face, c))
        checked.update(todo)
        if path is not None:
            try:
                write_atomic(
                    path,
                    json.dumps(
                        {"font": face.path, "checked": "".join(sorted(checked)), "drawn": "".join(sorted(drawn))},
                        ensure_ascii=False,
                    ),
                    make_parents=True,
                )
            except OSError:
                pass  # a read-only home: correct, only slower
    return frozenset(c for c in chars if c in drawn)


def _is_japanese(face: FontFace) -> bool:
    try:
        return all(has_glyph(face, c) for c in _PROBE)
    except OSError:  # not a font Pillow can open
        return False


def find_fonts(search_dirs: list[Path] | None = None) -> FontSet:
    """Kouzan brush faces (and any Japanese font under $KUZUSHIJI_FONT_DIR) plus a Noto CJK JP fallback.

    Raises:
        FontNotFoundError: no Japanese face at all.
    """
    dirs = font_search_dirs() if search_dirs is None else [Path(d) for d in search_dirs]
    return _find_fonts(tuple(str(d) for d in dirs), os.environ.get(FONT_DIR_ENV, ""))


@lru_cache(maxsize=8)
def _find_fonts(dirs: tuple[str, ...], env_dir: str) -> FontSet:
    primary: dict[str, FontFace] = {}
    fallbacks: dict[str, FontFace] = {}
    hentaigana: dict[str, FontFace] = {}
    kana_forms: dict[str, FontFace] = {}
    for folder in dirs:
        user_folder = bool(env_dir) and Path(folder) == Path(env_dir)
        for path in _font_files(Path(folder)):
            low = path.name.lower()
            if low in EXCLUDED_FILES:
                continue
            if low in FALLBACK_FILES:
                fallbacks.setdefault(low, FontFace("noto-" + path.stem.lower(), str(path), _jp_index(path)))
            elif low in HENTAIGANA_FILES:
                face = FontFace(HENTAIGANA_FILES[low], str(path), _jp_index(path))
                if face.name not in hentaigana and has_glyph(face, HENTAIGANA_PROBE):
                    hentaigana[face.name] = face
            elif low in KANA_FORM_FILES:
                face = FontFace(KANA_FORM_FILES[low], str(path), 0)
                if face.name not in kana_forms and has_glyph(face, "あ"):
                    kana_forms[face.name] = face
            elif low in HAND_FILES or user_folder:
                name = HAND_FILES.get(low, path.stem.lower())
                face = FontFace(name, str(path), _jp_index(path))
                if name not in primary and _is_japanese(face):
                    primary[name] = face
    fallback = next((fallbacks[f] for f in FALLBACK_FILES if f in fallbacks and _is_japanese(fallbacks[f])), None)
    extra = tuple(hentaigana[n] for n in sorted(hentaigana))
    forms = tuple(kana_forms[n] for n in sorted(kana_forms))
    if not primary and fallback is None:
        raise FontNotFoundError(missing_font_message(list(dirs)))
    if not primary:  # only Noto: books differ in size, weight and paper, not in hand
        return FontSet((fallback,), None, extra, forms)
    return FontSet(tuple(primary[n] for n in sorted(primary)), fallback, extra, forms)


# The hand the release model never saw (docs/model_card.md): a brush face whose sibling Yuji Syuku stays in
# training, installed from npm like the other Yuji faces so anyone can draw test pages with it.
RELEASE_HELD_OUT_FACES = ("yuji-mai",)


def without_faces(fonts: FontSet, names) -> FontSet:
    """`fonts` without the hands named in `names` (pages are then never drawn in them).

    Raises:
        ValueError: a name that is not one of the installed hands (the message lists them), or no hand left.
    """
    names = tuple(dict.fromkeys(names))
    hands = [f.name for f in fonts.primary]
    unknown = [n for n in names if n not in hands]
    if unknown:
        raise ValueError(
            f"--exclude-faces: no installed hand named {', '.join(unknown)}; the hands are {', '.join(hands)} "
            "(`make fonts` installs them)"
        )
    kept = tuple(f for f in fonts.primary if f.name not in names)
    if not kept:
        raise ValueError("--exclude-faces leaves no hand to draw with")
    return FontSet(kept, fonts.fallback, fonts.hentaigana, fonts.kana_forms)


ORIGINAL_FACES = ("kouzan-sousyo", "kouzan-gyosho", "kouzan-mouhitsu")  # the generator's faces before handwriting


def font_pages_only(fonts: FontSet) -> FontSet:
    """`fonts` with only the original Kouzan brush faces as hands (the ablation's "no handwriting");
    unchanged when none of them is installed."""
    kept = tuple(f for f in fonts.primary if f.name in ORIGINAL_FACES)
    return FontSet(kept, fonts.fallback, fonts.hentaigana, fonts.kana_forms) if kept else fonts


def crop_to_ink(mask: np.ndarray) -> np.ndarray:
    """The smallest window holding every non-zero pixel ([1, 1] of zeros for a blank mask)."""
    rows = np.flatnonzero(mask.any(axis=1))
    if not len(rows):
        return np.zeros((1, 1), np.uint8)
    cols = np.flatnonzero(mask[rows[0] : rows[-1] + 1].any(axis=0))
    return mask[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


class GlyphCache:
    """Ink masks per (face, char, stroke weight) at the reference em size, resized per use.

    Drawing once at `REF_EM` and resizing keeps FreeType out of the per-character loop, and makes the
    stroke weight (dilate/erode in reference pixels) look the same on a 400 px page and a 3900 px one.
    """

    def __init__(self, fonts: FontSet, max_items: int = 4000):
        self.fonts = fonts
        self.max_items = max_items
        self._masks: dict[tuple[str, str, int], np.ndarray] = {}
        self._widths: dict[str, float] = {}

    def stroke_width(self, face_name: str) -> float:
        """The face's typical stroke width in reference-em pixels: 2 x ink area / ink perimeter over a few
        common characters (a stroke of width w and length l has area w*l and perimeter ~2l)."""
        width = self._widths.get(face_name)
        if width is None:
            face = self.fonts.face(face_name)
            font = load_font(face.path, face.index, REF_EM)
            area = perimeter = 0.0
            for char in _STROKE_PROBE:
                mask = (_draw(font, char) >= 128).astype(np.uint8)
                contours, _ = cv2.findContours(mask, cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
                area += float(mask.sum())
                perimeter += sum(cv2.arcLength(c, True) for c in contours)
            width = self._widths[face_name] = 2.0 * area / max(perimeter, 1.0)
        return width

    def reference(self, face_name: str, char: str, weight: int) -> np.ndarray:
        key = (face_name, char, weight)
        mask = self._masks.get(key)
        if mask is None:
            face = self.fonts.face(face_name)
            mask = _draw(load_font(face.path, face.index, REF_EM), char)
            if weight:
                kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * abs(weight) + 1,) * 2)
                mask = np.pad(mask, abs(weight) + 1)
                mask = cv2.dilate(mask, kernel) if weight > 0 else cv2.erode(mask, kernel)
            mask = crop_to_ink(mask)
            if len(self._masks) >= self.max_items:
                self._masks.clear()
            self._masks[key] = mask
        return mask

    def glyph(
        self, face_name: str, char: str, em: float, weight: int = 0, aspect: float = 1.0, angle: float = 0.0
    ) -> np.ndarray:
        """uint8 [h, w] ink of `char` at em size `em` px, squeezed by `aspect` (w/h) and turned `angle` deg."""
        ref = self.reference(face_name, char, weight)
        scale = em / REF_EM
        fx, fy = scale * aspect**0.5, scale / aspect**0.5
        w, h = max(1, round(ref.shape[1] * fx)), max(1, round(ref.shape[0] * fy))
        interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        mask = cv2.resize(ref, (w, h), interpolation=interp)
        if angle:
            side = int(np.ceil(np.hypot(w, h))) + 2
            pad_x, pad_y = (side - w) // 2, (side - h) // 2
            mask = cv2.copyMakeBorder(mask, pad_y, side - h - pad_y, pad_x, side - w - pad_x, cv2.BORDER_CONSTANT)
            rot = cv2.getRotationMatrix2D((side / 2, side / 2), angle, 1.0)
            mask = crop_to_ink(cv2.warpAffine(mask, rot, (side, side), flags=cv2.INTER_LINEAR))
        return mask
