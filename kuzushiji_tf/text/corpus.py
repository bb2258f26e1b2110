"""A folder of plain-text documents (one UTF-8 file per document, in subfolders such as `edo/`,
`classical/`, `bungo/`), and the one rule that splits it by document.

Every user of held-out text goes through `is_held_out`: the language model is built from the documents it
calls training text and has its perplexity measured on the rest; synthetic validation and test pages are
written from the held-out documents only. A split by line would let a document's sentences sit on both
sides; a split by a random draw would change with the folder's contents, so the rule is by name.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from kuzushiji_tf.errors import KuzushijiError

MANIFEST = "manifest.tsv"  # file, source, title, author, licence, chars: optional, gives each document's licence
HELD_OUT_EVERY = 10  # the 1st, 11th, 21st, ... document of each folder (sorted by name) is held out


class CorpusError(KuzushijiError):
    """A text folder or file that cannot be read: names the file and what is wrong."""


@dataclass(frozen=True)
class Document:
    """One document: `name` is its path relative to the corpus root with "/" separators (e.g.
    "edo/KUL-03D650D6.txt"), `folder` its first part ("" at the root), `lines` its non-empty lines."""

    name: str
    folder: str
    lines: tuple[str, ...]
    licence: str = ""

    @property
    def chars(self) -> int:
        return sum(len(line) for line in self.lines)


def _manifest_licences(root: Path) -> dict[str, str]:
    path = root / MANIFEST
    if not path.is_file():
        return {}
    with path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    if rows and not {"file", "licence"} <= set(rows[0]):
        raise CorpusError(f"{path}: a manifest needs the columns 'file' and 'licence', has {sorted(rows[0])}")
    return {row["file"]: row["licence"] for row in rows}


def read_document(path: Path, name: str, licence: str = "") -> Document:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise CorpusError(f"{path}: not UTF-8 text (byte {e.start}): convert it, e.g. iconv -f cp932 -t utf-8") from e
    except OSError as e:
        raise CorpusError(f"{path}: cannot read it: {e.strerror or e}") from e
    lines = tuple(line.strip() for line in text.splitlines() if line.strip())
    folder = name.split("/")[0] if "/" in name else ""
    return Document(name=name, folder=folder, lines=lines, licence=licence)


def read_corpus(paths: Iterable[str | Path]) -> list[Document]:
    """The documents under `paths` (folders, searched recursively for *.txt, or single files), sorted by
    name. A folder's names are relative to that folder, so "corpus/edo/a.txt" given as "corpus" is "edo/a.txt".
    Raises CorpusError for a path that does not exist, a file that is not UTF-8, or no text at all."""
    docs: dict[str, Document] = {}
    for given in paths:
        path = Path(given)
        if path.is_dir():
            licences = _manifest_licences(path)
            for file in sorted(path.rglob("*.txt")):
                name = file.relative_to(path).as_posix()
                docs[name] = read_document(file, name, licences.get(name, ""))
        elif path.is_file():
            docs[path.name] = read_document(path, path.name)
        else:
            raise CorpusError(f"{path}: no such file or folder")
    if not any(doc.lines for doc in docs.values()):
        raise CorpusError(f"no text in {', '.join(str(p) for p in paths)}: give folders of UTF-8 .txt files")
    return [docs[name] for name in sorted(docs)]


def held_out_names(names: Iterable[str]) -> set[str]:
    """The held-out documents among `names`: within each folder, sorted by name, every `HELD_OUT_EVERY`-th
    one starting with the first, so every folder of at least one document holds one out."""
    by_folder: dict[str, list[str]] = {}
    for name in names:
        by_folder.setdefault(name.split("/")[0] if "/" in name else "", []).append(name)
    return {name for group in by_folder.values() for k, name in enumerate(sorted(group)) if k % HELD_OUT_EVERY == 0}


def split_documents(docs: Sequence[Document]) -> tuple[list[Document], list[Document]]:
    """(training documents, held-out documents), by `held_out_names`."""
    held = held_out_names(doc.name for doc in docs)
    return [d for d in docs if d.name not in held], [d for d in docs if d.name in held]
