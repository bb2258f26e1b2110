"""Hentaigana: kana written from other kanji than today's, labelled as CODH and Kaggle label them.

Real pages write many kana as hentaigana (a は from 者 or 八); the datasets give each its standard kana's
code (`U+306F`). Unicode encodes 285 of them in the Kana Supplement and Kana Extended-A blocks, named
`HENTAIGANA LETTER <READING>-<N>`; the base kana comes from that name (`HIRAGANA LETTER <READING>`), so
no hand-typed table can drift from Unicode. Letters with several readings (`N-MU-MO-1`) are left out:
their label would be a guess.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache

BLOCKS = ((0x1B000, 0x1B0FF), (0x1B100, 0x1B12F))  # Kana Supplement, Kana Extended-A
_NAME = re.compile(r"HENTAIGANA LETTER ([A-Z]+)-\d+$")


def base_kana(char: str) -> str | None:
    """The standard hiragana a hentaigana is labelled with (`\\U0001B002` -> `あ`), else None."""
    match = _NAME.match(unicodedata.name(char, ""))
    if not match:
        return None
    try:
        return unicodedata.lookup(f"HIRAGANA LETTER {match.group(1)}")
    except KeyError:  # a reading today's hiragana lacks (YE, WU): no standard code to label it with
        return None


@cache
def hentaigana_table() -> dict[str, tuple[str, ...]]:
    """{base hiragana: its hentaigana, in code point order} for every letter with one reading."""
    table: dict[str, list[str]] = {}
    for lo, hi in BLOCKS:
        for code in range(lo, hi + 1):
            base = base_kana(chr(code))
            if base is not None:
                table.setdefault(base, []).append(chr(code))
    return {base: tuple(chars) for base, chars in sorted(table.items())}
