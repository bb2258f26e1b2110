"""Text -> token ids of the language model: one id per recogniser class, plus UNKNOWN and BOUNDARY.

The vocabulary is the space of the recogniser's classes: the codes of Kaggle's `unicode_translation.csv`
(4,781 codes, in the table's order) after id 0 = UNKNOWN (`<unk>`: a character the recogniser has no class
for) and id 1 = BOUNDARY (`<s>`: the start of a line; a context only, never predicted). A character maps to
its code (`か` -> `U+304B`), never through the table's `char` column, which has a few wrong rows (`U+3007`
is written `0` there).

What the recogniser never writes on an Edo page is dropped, not made UNKNOWN, so the model does not learn
an editor's punctuation: whitespace, control characters, every punctuation mark (Unicode category P*:
`、。「」『』・（）！？`, even the four the table has, 。「」・, which the Edo transcriptions never use) except
the song mark 〽, and symbols (category S*) that are not in the table (★, ×, §). Symbols in the table
(○ ● □ ■ ▲ △ ◯) stay: printers cut them.

The long repeat mark that Aozora Bunko writes as two characters, くの字点 〳〵 (voiced 〴〵), is one mark on a
page: it becomes the table's single vertical repeat mark 〱 (〲). Iteration marks 々 〻 ゝ ゞ ヽ ヾ and the
ligatures ゟ (より) and 〆 are in the table and stay as written; ヿ (コト) is not, and is UNKNOWN. Historical
kana (ゐ ゑ ヰ ヱ) and kanji forms are kept as the text spells them.
"""

from __future__ import annotations

import csv
import functools
import unicodedata
from collections.abc import Iterable, Mapping
from pathlib import Path

from kuzushiji_tf.config import SAMPLE_KAGGLE_DIR
from kuzushiji_tf.structures import char_to_code

TABLE_PATH = SAMPLE_KAGGLE_DIR / "unicode_translation.csv"
UNKNOWN = 0
BOUNDARY = 1
UNKNOWN_TOKEN = "<unk>"
BOUNDARY_TOKEN = "<s>"
SPECIAL = (UNKNOWN_TOKEN, BOUNDARY_TOKEN)
KEPT_MARKS = frozenset("〽")  # punctuation by Unicode's category, but a mark written on Edo pages
# Aozora's くの字点 (two halves) -> the table's one vertical repeat mark; lone halves follow the same rule.
REPEAT_MARKS = (("〳〵", "〱"), ("〴〵", "〲"), ("〳", "〱"), ("〴", "〲"), ("〵", ""))


@functools.cache
def vocabulary(path: str | Path = TABLE_PATH) -> tuple[str, ...]:
    """("<unk>", "<s>", then every code of the table in its order)."""
    with open(path, encoding="utf-8", newline="") as f:
        codes = [row["Unicode"] for row in csv.DictReader(f)]
    return SPECIAL + tuple(dict.fromkeys(codes))


def vocabulary_index(vocab: Iterable[str]) -> dict[str, int]:
    """code -> id for a vocabulary."""
    return {code: k for k, code in enumerate(vocab)}


@functools.cache
def _default_index() -> dict[str, int]:
    return vocabulary_index(vocabulary())


def is_dropped(char: str, index: Mapping[str, int]) -> bool:
    """True for a character the recogniser never writes on a page (see the module's docstring)."""
    if char in KEPT_MARKS:
        return False
    category = unicodedata.category(char)
    if category[0] in "PZC":
        return True
    return category[0] == "S" and char_to_code(char) not in index


def normalise(line: str) -> str:
    """The line with Aozora's two-character repeat marks made one (〳〵 -> 〱)."""
    for old, new in REPEAT_MARKS:
        line = line.replace(old, new)
    return line


def token_of(char: str, index: Mapping[str, int]) -> int | None:
    """The id of one character (after `normalise`): None if it is dropped, UNKNOWN outside the vocabulary."""
    return None if is_dropped(char, index) else index.get(char_to_code(char), UNKNOWN)


class Tokenizer:
    """Lines -> ids for one vocabulary, remembering each character's id (a corpus has a few thousand)."""

    def __init__(self, index: Mapping[str, int] | None = None):
        self.index = _default_index() if index is None else index
        self._ids: dict[str, int | None] = {}

    def line_tokens(self, line: str) -> list[int]:
        ids, known = [], self._ids
        for char in normalise(line):
            token = known[char] if char in known else known.setdefault(char, token_of(char, self.index))
            if token is not None:
                ids.append(token)
        return ids

    def encode_lines(self, lines: Iterable[str]) -> list[list[int]]:
        sequences = ([BOUNDARY, *self.line_tokens(line)] for line in lines)
        return [seq for seq in sequences if len(seq) > 1]


def line_tokens(line: str, index: Mapping[str, int] | None = None) -> list[int]:
    """The ids of a line's characters (no BOUNDARY): dropped characters left out, others not in the
    vocabulary UNKNOWN."""
    return Tokenizer(index).line_tokens(line)


def encode_line(line: str, index: Mapping[str, int] | None = None) -> list[int]:
    """[BOUNDARY, the line's ids...]: how a line is fed to the model."""
    return [BOUNDARY, *line_tokens(line, index)]


def encode_lines(lines: Iterable[str], index: Mapping[str, int] | None = None) -> list[list[int]]:
    """encode_line of each line that keeps at least one token."""
    return Tokenizer(index).encode_lines(lines)
