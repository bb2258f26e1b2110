"""The text synthetic pages are written with: real classical Japanese read in order, or the i.i.d. draw.

**Which text.** A folder of UTF-8 documents (`kuzushiji_tf.text.corpus.read_corpus`): by default the
public-domain sample shipped with the package (`config.SAMPLE_TEXT_DIR`, its SOURCES.md), or one the user
names (`--text DIR`). `iid` keeps the generator's earlier draw: characters one by one from the charset's
frequency table (`Charset.sample`), for comparing i.i.d. pages with real-text pages of the same sizes.

**Which documents.** The corpus's one split by document (`split_documents`): training books read only
training documents, test books only held-out ones, the documents the language model's perplexity is
measured on. No other split is made here.

**Where a page starts.** A book starts at a sentence drawn uniformly over the split's characters (so long
documents get more books); page p of the book reads the `WINDOW` characters that start p windows later,
and its columns take them in order (`layout.ColumnWriter`), so a page reads as a page of a book, and
character frequencies and sequences are those of the text. A page holds 70-250 characters: the rest of its
window is never drawn, and the next page starts at the next window. The split's documents follow each
other in name order and the last wraps around to the first, so a long run re-reads text.

**What is written.** Characters the recogniser never writes are dropped: punctuation, symbols, spaces
(Unicode categories P, S, Z, C: 、。「」『』…・○ and the like; Edo prints have little of them) and the くの字点
〳〵 (`ITERATION_MARKS`: no code in unicode_translation.csv; skipping its sentences instead lost a fifth of
the sample's training text). A hentaigana in the text is labelled with its kana, as CODH labels it. Every
other character must be one the charset labels and some installed face draws; one that is not (a kanji
missing from unicode_translation.csv, a Latin letter) is never replaced, since a substitute would be a character, and a sequence,
the text does not have. The sentence holding it is skipped instead (a sentence ends at 。！？ or at the end
of a line), so pages hold whole real sentences. Edo prose, though, often marks no sentence end for
thousands of characters (a line of 大岡政談 runs to 15,000): skipping such a run would lose a page's worth
of text for one character, so in a run longer than `LONG_SENTENCE` only that character is skipped. Both
are counted (`TextStats`, and per page `TextSource.skipped_within`).
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kuzushiji_tf.config import SAMPLE_TEXT_DIR
from kuzushiji_tf.errors import KuzushijiError
from kuzushiji_tf.synthetic.charset import Charset
from kuzushiji_tf.synthetic.hentaigana import BLOCKS, base_kana
from kuzushiji_tf.text.corpus import CorpusError, Document, read_corpus, split_documents

IID = "iid"  # characters drawn one by one from the charset's table: the generator before real text
SAMPLE = "sample"  # the shipped public-domain text (the default)
TRAIN, HELD_OUT = "train", "held_out"  # the corpus split's two sides
WINDOW = 320  # characters a page may read: pages of 40 books read 25-124 of them (measured 2026-12-07)
LONG_SENTENCE = 100  # longer runs without a sentence end: skip an unwritable character, not the run
SENTENCE_ENDS = frozenset("。．！？!?")
_DROPPED_CATEGORIES = frozenset("PSZC")  # punctuation, symbols, separators, control and other
# くの字点, the two-character iteration mark (〳〵, voiced 〴〵, and 〱 〲 as typed horizontally): Edo prose
# writes it often, and unicode_translation.csv has no code for it, so no real page's labels hold it either.
ITERATION_MARKS = frozenset("\u3031\u3032\u3033\u3034\u3035")


class TextSourceError(KuzushijiError, ValueError):
    """A text folder that cannot give the pages their text: names the folder and what is wrong."""


def text_split(page_split: str) -> str:
    """The corpus side a page's text comes from: training pages read training documents, every other
    split (test pages) reads held-out documents."""
    return TRAIN if page_split == "train" else HELD_OUT


def is_written(char: str) -> bool:
    """False for what the recogniser never writes: punctuation, symbols, spaces, controls, くの字点."""
    return unicodedata.category(char)[0] not in _DROPPED_CATEGORIES and char not in ITERATION_MARKS


def _label(char: str) -> str:
    if any(lo <= ord(char) <= hi for lo, hi in BLOCKS):
        return base_kana(char) or char
    return char


@dataclass
class TextStats:
    """What became of one side's text. `chars` were kept (pages may draw them); `marks_dropped` were
    punctuation, symbols or spaces; `sentences_skipped` held `sentence_chars_skipped` characters (the
    unwritable ones among them); `chars_skipped` unwritable characters were skipped alone inside long
    sentences; `unsupported` counts every unwritable character."""

    documents: int = 0
    sentences: int = 0
    chars: int = 0
    marks_dropped: int = 0
    sentences_skipped: int = 0
    sentence_chars_skipped: int = 0
    chars_skipped: int = 0
    unsupported: Counter = field(default_factory=Counter)

    def to_dict(self, top: int = 20) -> dict:
        total = self.chars + self.sentence_chars_skipped + self.chars_skipped
        return {
            "documents": self.documents,
            "sentences": self.sentences,
            "chars": self.chars,
            "marks_dropped": self.marks_dropped,
            "sentences_skipped": self.sentences_skipped,
            "sentence_chars_skipped": self.sentence_chars_skipped,
            "chars_skipped": self.chars_skipped,
            "unsupported_chars": sum(self.unsupported.values()),
            "share_sentences_skipped": round(self.sentences_skipped / max(1, self.sentences), 4),
            "share_chars_lost": round((self.sentence_chars_skipped + self.chars_skipped) / max(1, total), 4),
            "most_unsupported": "".join(c for c, _ in self.unsupported.most_common(top)),
        }


@dataclass(frozen=True)
class _Stream:
    """One side's kept characters in document-name order, where its sentences start, and where (before
    which kept character) a sentence or a character was skipped, with the characters lost."""

    text: str
    sentence_starts: np.ndarray
    skip_at: np.ndarray
    skip_is_sentence: np.ndarray
    skip_chars: np.ndarray


def _stream(docs: Sequence[Document], writable: frozenset[str]) -> tuple[_Stream, TextStats]:
    stats = TextStats(documents=len(docs))
    parts: list[str] = []
    starts: list[int] = []
    skips: list[tuple[int, int, int]] = []
    offset = 0
    for doc in docs:
        for line in doc.lines:
            sentence: list[str] = []
            for char in line + "\n":  # the line's end ends its last sentence
                if char in SENTENCE_ENDS or char == "\n":
                    stats.marks_dropped += char != "\n"
                    if not sentence:
                        continue
                    stats.sentences += 1
                    bad = [c for c in sentence if c not in writable]
                    stats.unsupported.update(bad)
                    if bad and len(sentence) <= LONG_SENTENCE:
                        stats.sentences_skipped += 1
                        stats.sentence_chars_skipped += len(sentence)
                        skips.append((offset, 1, len(sentence)))
                    else:
                        starts.append(offset)
                        for c in sentence:
                            if c in writable:
                                parts.append(c)
                                offset += 1
                            else:
                                stats.chars_skipped += 1
                                skips.append((offset, 0, 1))
                    sentence = []
                elif is_written(char):
                    sentence.append(_label(char))
                else:
                    stats.marks_dropped += 1
    stats.chars = offset
    skip = np.asarray(skips, np.int64).reshape(-1, 3)
    stream = _Stream("".join(parts), np.asarray(starts, np.int64), skip[:, 0], skip[:, 1], skip[:, 2])
    return stream, stats


class TextSource:
    """A text folder's documents, split by the corpus rule and prepared for one charset.

    Args:
        name: what the text is (`sample` or the folder), for the dataset's record.
        documents: the folder's documents (`read_corpus`).
        charset: the characters pages may label; the rest are skipped as the module says.
    """

    def __init__(self, name: str, documents: Sequence[Document], charset: Charset):
        self.name = name
        train, held = split_documents(documents)
        self.documents = {TRAIN: [d.name for d in train], HELD_OUT: [d.name for d in held]}
        writable = frozenset(charset.kana) | frozenset(charset.kanji)
        self._streams: dict[str, _Stream] = {}
        self.stats: dict[str, TextStats] = {}
        for side, docs in ((TRAIN, train), (HELD_OUT, held)):
            self._streams[side], self.stats[side] = _stream(docs, writable)

    def require(self, side: str) -> None:
        """Raises TextSourceError when `side` has no character a page can draw."""
        if self._streams[side].text:
            return
        if not self.documents[side]:
            why = (
                "has no training document: the corpus split holds out the 1st, 11th, 21st, ... document of "
                "each folder (sorted by name), so a folder needs at least 2 documents"
                if side == TRAIN
                else "has no held-out document"
            )
        else:
            documents = "training" if side == TRAIN else "held-out"
            why = f"has no sentence in its {documents} documents that the charset can write"
        raise TextSourceError(f"text {self.name}: {why}")

    def book_start(self, side: str, rng: np.random.Generator) -> int:
        """Where a book starts reading `side`: the first sentence at or after a uniformly drawn character."""
        stream = self._streams[side]
        self.require(side)
        k = int(np.searchsorted(stream.sentence_starts, int(rng.integers(len(stream.text)))))
        return int(stream.sentence_starts[k % len(stream.sentence_starts)])

    def window(self, side: str, start: int, page_index: int) -> tuple[int, str]:
        """(offset, the `WINDOW` characters from it) that page `page_index` of a book starting at `start`
        reads; the text wraps around from the last document to the first."""
        text = self._streams[side].text
        offset = (start + page_index * WINDOW) % len(text)
        chars = text[offset : offset + WINDOW]
        while len(chars) < WINDOW:
            chars += text[: WINDOW - len(chars)]
        return offset, chars

    def skipped_within(self, side: str, offset: int, length: int) -> tuple[int, int, int]:
        """(sentences skipped, characters they held, characters skipped alone) between the `length`
        characters read from `offset`: what a page that drew them lost of the real text."""
        stream = self._streams[side]
        n = len(stream.text)
        found = np.zeros(len(stream.skip_at), bool)
        end = offset + length
        # Skips before kept character q lie between q - 1 and q: inside the page when offset < q < end.
        for lap in range(0, max(1, -(-end // n)) + 1):
            at = stream.skip_at + lap * n
            found |= (at > offset) & (at < end)
        sentences = int(stream.skip_is_sentence[found].sum())
        lost = stream.skip_chars[found]
        return sentences, int(lost[stream.skip_is_sentence[found] == 1].sum()), int(found.sum() - sentences)


def load_text(spec: str | Path | None, charset: Charset) -> TextSource | None:
    """The text pages are written with: None or `sample` is the shipped sample, `iid` is None (the
    i.i.d. draw), anything else a folder (or a file) of UTF-8 `.txt` documents.

    Raises:
        TextSourceError: a folder that does not exist, holds no text or a file that is not UTF-8.
    """
    spec = SAMPLE if spec is None else spec
    if str(spec) == IID:
        return None
    path, name = (SAMPLE_TEXT_DIR, SAMPLE) if str(spec) == SAMPLE else (Path(spec), str(spec))
    try:
        documents = read_corpus([path])
    except CorpusError as error:
        raise TextSourceError(
            f"text {name}: {error} (give a folder of UTF-8 .txt documents, `{SAMPLE}` or `{IID}`)"
        ) from error
    return TextSource(name, documents, charset)
