"""Which characters the synthetic pages may use: every one is a code of unicode_translation.csv that at
least one installed face draws, so no page can carry a label the real data could not. Kana with hentaigana
also carry those variants (`variants`), drawn in place of the standard form at the book's
`hentaigana_rate`, labelled with the standard kana's code.

How often each is used is the text's business: pages write real classical text (`text_source`), whose
frequencies and sequences are its own, and the charset only says which of its characters can be written.
The hand-typed frequency table below serves what real text does not cover:

- the i.i.d. pages (`--text iid`, `Charset.sample`, the generator before real text, kept for comparisons):
  kana about two thirds of a page (a book's `kanji_ratio`; 65 % on the bundled real pages), hiragana by
  their frequency in kuzushiji text (`HIRAGANA_ORDER`: に, の, し, て lead), kanji by a Zipf law over a rank
  (`COMMON_KANJI`, the common kanji of Edo books, first, then the kanji most hands draw);
- the named charsets `common` and `kanji`, which are `COMMON_KANJI` (and the kana);
- the small unlabelled reading glosses beside kanji, drawn from `HIRAGANA_ORDER` (`layout.ColumnWriter.glosses`).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kuzushiji_tf.config import SAMPLE_KAGGLE_DIR
from kuzushiji_tf.structures import CODE_PATTERN, char_to_code, code_to_char
from kuzushiji_tf.synthetic.fonts import FontSet, drawn_chars
from kuzushiji_tf.synthetic.hentaigana import hentaigana_table

TABLE_PATH = SAMPLE_KAGGLE_DIR / "unicode_translation.csv"
NAMED_CHARSETS = ("default", "common", "kana", "hiragana", "kanji", "full")
KANJI_ZIPF = 1.1  # exponent of the kanji frequency law over their rank
KANJI_ZIPF_OFFSET = 10
# Hiragana by how often they occur in kuzushiji text, most frequent first; later ones share the tail weight.
HIRAGANA_ORDER = "にのしてとかりをるはなくれもらいたきすつこけあさまへせやうおわよそめみえひちねほゆむろふんぬゑゐ"
# Common kanji of Edo-period printed books (a few hundred); filtered against the table and the fonts.
COMMON_KANJI = (
    "之也人事日月年大小上下中出入子女男山川水火木金土天地國家心手口目耳足見行來思言物時同此其有無不可爲"
    "所者而以於與又若御申候間内外前後左右東西南北春夏秋冬花草竹鳥魚馬犬牛神佛寺社王君臣民道德義禮仁信忠"
    "孝父母兄弟夫妻友生死命名字書文學問師京江戸町村里門屋殿宮城高長短多少新古今昔夜朝晝夕分方向風雲雨雪"
    "霜露星光色白黒赤青黄紫銀玉石田米酒茶飯食衣服帶身體頭面顔首髪眼鼻舌齒指腹背能知聞讀語話歌詩和漢法經"
    "念僧尼主客商工農兵武士侍將軍公百千萬一二三四五六七八九十半兩貫錢本世代度歸去往止居住坐立起臥寝病老"
    "美惡善好喜怒哀樂悲苦香聲音舞遊戲第序卷巻目録記傳説話物語集初終始末是非然爾乃即故今日明暮時節花鳥"
    "月雪松梅櫻桜菊竹藤柳草露野原海波濱島舟船橋道路宿旅客亭酒宴席座敷庭池泉石垣籠燈火煙香茶湯桶臺具器"
    "筆紙墨硯箱錦絲糸織染衣裳袖帯扇笠傘杖刀劔弓矢鎧甲馬具狩獵漁網釣鷹鶴龜鯉雀鶯蝶蟲猿狐狸鹿猪熊虎龍鬼"
    "仙靈魂夢幻影姿形容貌聲色情戀愛恋慕待別逢會合歡悦恨怨憂愁淚泣笑樂醉眠覺醒起居步走飛乗歸帰入出送迎"
    "給賜奉仕申承候存致被成下置付取持遣參参詣拝祈願祝賀壽命福徳利益財寳宝物價賣買銭貨借貸損得勝負爭戰"
    "討伐攻守城郭陣營兵卒"
)


@dataclass(frozen=True)
class Charset:
    """The characters pages are drawn from.

    Args:
        kana: hiragana and katakana, with `kana_weights` (sum 1) for sampling.
        kanji: everything else, with `kanji_weights` (sum 1).
        faces: per character, the names of the faces that really draw it (primary faces first); also
            per hentaigana, the faces that draw it.
        name: where the set came from (`default`, a file path, ...).
        variants: per kana, the hentaigana that some face draws (labelled as that kana).
        form_faces: per kana, the `FontSet.kana_forms` faces whose glyph for that very code is a
            hentaigana; each counts as one more form beside `variants`.
    """

    kana: tuple[str, ...]
    kana_weights: tuple[float, ...]
    kanji: tuple[str, ...]
    kanji_weights: tuple[float, ...]
    faces: dict[str, tuple[str, ...]]
    name: str = "default"
    variants: dict[str, tuple[str, ...]] = field(default_factory=dict)
    form_faces: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def forms(self, char: str) -> list[tuple[str, str | None]]:
        """The hentaigana `char` may be written as: (glyph, face to draw it with, or None for any)."""
        return [(v, None) for v in self.variants.get(char, ())] + [
            (char, face) for face in self.form_faces.get(char, ())
        ]

    def __len__(self) -> int:
        return len(self.kana) + len(self.kanji)

    @property
    def codes(self) -> list[str]:
        return sorted(char_to_code(c) for c in self.kana + self.kanji)

    def sample(self, rng: np.random.Generator, kanji_ratio: float, size: int) -> list[str]:
        """`size` characters; a fraction `kanji_ratio` (when both groups exist) from the kanji group."""
        use_kanji = rng.random(size) < (kanji_ratio if self.kana else 1.0) if self.kanji else np.zeros(size, bool)
        kana = rng.choice(len(self.kana), size, p=self.kana_weights) if self.kana else np.zeros(size, int)
        kanji = rng.choice(len(self.kanji), size, p=self.kanji_weights) if self.kanji else np.zeros(size, int)
        return [self.kanji[j] if k else self.kana[i] for k, i, j in zip(use_kanji, kana, kanji)]


def read_table(path: Path = TABLE_PATH) -> dict[str, str]:
    """`U+XXXX` -> character, from Kaggle's unicode_translation.csv."""
    with open(path, encoding="utf-8", newline="") as f:
        return {row["Unicode"]: row["char"] for row in csv.DictReader(f)}


def is_kana(char: str) -> bool:
    return 0x3041 <= ord(char) <= 0x30FF and char not in "・ー"


def _named(name: str, table_chars: list[str]) -> list[str]:
    hiragana = [c for c in table_chars if 0x3041 <= ord(c) <= 0x3096]
    katakana = [c for c in table_chars if 0x30A1 <= ord(c) <= 0x30FA]
    kanji = list(dict.fromkeys(COMMON_KANJI))
    return {
        "default": table_chars,
        "common": hiragana + katakana + kanji,
        "kana": hiragana + katakana,
        "hiragana": hiragana,
        "kanji": kanji,
        "full": table_chars,
    }[name]


def _read_file(path: Path) -> list[str]:
    """Characters of a charset file: `U+XXXX` tokens or plain characters; whitespace and `#` comments skipped."""
    chars = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0]
        for token in line.split():
            chars.extend([code_to_char(token)] if CODE_PATTERN.match(token) else list(token))
    return chars


def build_charset(spec: str | Path | None, fonts: FontSet, table: dict[str, str] | None = None) -> Charset:
    """A named charset (`NAMED_CHARSETS`) or a file, keeping what the table has and some face draws.

    Named sets silently drop characters no face draws; a file is the user's explicit list, so any of its
    characters missing from the table or from every font is an error.

    Raises:
        ValueError: unknown name, unreadable file, or a file character that cannot be emitted.
    """
    table = read_table() if table is None else table
    table_chars = [code_to_char(code) for code in table]
    allowed = set(table_chars)
    spec = "default" if spec is None else spec
    if str(spec) in NAMED_CHARSETS:
        wanted, strict, name = _named(str(spec), table_chars), False, str(spec)
    else:
        path = Path(spec)
        if not path.is_file():
            raise ValueError(f"charset {str(spec)!r} is neither one of {', '.join(NAMED_CHARSETS)} nor a file")
        wanted, strict, name = _read_file(path), True, str(path)
    wanted = list(dict.fromkeys(wanted))
    faces = {}
    candidates = [c for c in wanted if c in allowed]
    primary = [(f.name, drawn_chars(f, candidates)) for f in fonts.primary]
    missing = [c for c in candidates if not any(c in drawn for _, drawn in primary)]
    # The fallback is only asked when no brush face has the character.
    fallback = drawn_chars(fonts.fallback, missing) if fonts.fallback and missing else frozenset()
    for char in wanted:
        drawn_by = tuple(name for name, drawn in primary if char in drawn)
        if not drawn_by and char in fallback:
            drawn_by = (fonts.fallback.name,)
        if drawn_by:
            faces[char] = drawn_by
        elif strict:
            why = "is not in unicode_translation.csv" if char not in allowed else "is drawn by no installed font"
            raise ValueError(f"charset file {name}: {char_to_code(char)} ({char}) {why}")
    if not faces:
        raise ValueError(f"charset {name!r} has no character that is in unicode_translation.csv and drawable")
    kana = [c for c in faces if is_kana(c)]
    kanji = [c for c in faces if not is_kana(c)]
    variants = {}
    table_forms = {base: forms for base, forms in hentaigana_table().items() if base in faces}
    every_form = [v for forms in table_forms.values() for v in forms]
    variant_faces = [(f.name, drawn_chars(f, every_form)) for f in fonts.hentaigana]
    for base, forms in table_forms.items():
        for v in forms:
            drawn_by = tuple(name for name, drawn in variant_faces if v in drawn)
            if drawn_by:
                faces[v] = drawn_by
        if any(v in faces for v in forms):
            variants[base] = tuple(v for v in forms if v in faces)
    form_faces = {}
    for face in fonts.kana_forms:
        for char in sorted(drawn_chars(face, kana)):
            form_faces[char] = form_faces.get(char, ()) + (face.name,)
    ranked = _rank_kanji(kanji, faces, fonts)
    return Charset(
        tuple(kana), _kana_weights(kana), tuple(ranked), _zipf(len(ranked)), faces, name, variants, form_faces
    )


def _rank_kanji(kanji: list[str], faces: dict[str, tuple[str, ...]], fonts: FontSet) -> list[str]:
    """Common kanji of Edo books first (in COMMON_KANJI's order), then by how many hands draw them
    (`faces` lists the hands that draw each, or the fallback alone when none does)."""
    common = {c: i for i, c in enumerate(dict.fromkeys(COMMON_KANJI))}
    fallback = fonts.fallback.name if fonts.fallback else None
    hands = {c: sum(name != fallback for name in faces[c]) for c in kanji if c not in common}
    return sorted(kanji, key=lambda c: (0, common[c], 0) if c in common else (1, -hands[c], ord(c)))


def _zipf(n: int) -> tuple[float, ...]:
    raw = 1.0 / (np.arange(n) + KANJI_ZIPF_OFFSET) ** KANJI_ZIPF
    return tuple((raw / raw.sum()).tolist()) if n else ()


def _kana_weights(kana: list[str]) -> tuple[float, ...]:
    # Zipf-like over HIRAGANA_ORDER; katakana and voiced forms are rarer in these books.
    ranks = {c: i for i, c in enumerate(HIRAGANA_ORDER)}
    raw = [1.0 / (ranks[c] + 4) if c in ranks else (0.0005 if 0x30A1 <= ord(c) else 0.004) for c in kana]
    total = sum(raw)
    return tuple(r / total for r in raw)
