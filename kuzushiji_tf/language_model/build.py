"""A language model from folders of text, and its perplexity on held-out documents, folder by folder.

The split is the project's one split by document (`kuzushiji_tf.text.corpus.split_documents`): a model is
built from the training documents and measured on the held-out ones, the same documents the synthetic
validation pages are written from.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from kuzushiji_tf.language_model.ngram import NgramModel, perplexity
from kuzushiji_tf.language_model.tokens import BOUNDARY, Tokenizer, vocabulary, vocabulary_index
from kuzushiji_tf.text.corpus import Document


def document_sequences(docs: Sequence[Document], vocab: Sequence[str] | None = None) -> list[list[int]]:
    """Every line of `docs` as [BOUNDARY, ids...] (lines with nothing left after dropping are skipped)."""
    tokenizer = Tokenizer(vocabulary_index(vocabulary() if vocab is None else vocab))
    return [seq for doc in docs for seq in tokenizer.encode_lines(doc.lines)]


def build_model(
    docs: Sequence[Document],
    order: int,
    prune: Sequence[int] = (),
    *,
    log: Callable[[str], None] | None = None,
    meta: dict | None = None,
    half: bool = False,
) -> NgramModel:
    """An n-gram model of `order` from all of `docs` (split them first: `split_documents`)."""
    say = log or (lambda text: None)
    vocab = vocabulary()
    started = time.perf_counter()
    sequences = document_sequences(docs, vocab)
    tokens = sum(len(seq) for seq in sequences) - len(sequences)
    say(
        f"{len(docs)} documents, {len(sequences):,} lines, {tokens:,} characters ({time.perf_counter() - started:.1f} s)"
    )
    model = NgramModel.build(
        sequences,
        vocab,
        order,
        prune,
        meta={**(meta or {}), "documents": len(docs), "folders": sorted({doc.folder for doc in docs})},
        half=half,
    )
    say(
        f"order {order}, pruning {list(model.meta['prune'])}: n-grams per order "
        f"{model.ngram_counts} ({time.perf_counter() - started:.1f} s)"
    )
    return model


def held_out_report(model: NgramModel, docs: Sequence[Document]) -> dict[str, dict]:
    """Per folder of `docs` (and "all"): documents, characters scored, per-character perplexity."""
    groups: dict[str, list[Document]] = {}
    for doc in docs:
        groups.setdefault(doc.folder, []).append(doc)
    report = {}
    for folder, group in [*sorted(groups.items()), ("all", list(docs))]:
        sequences = document_sequences(group, model.vocabulary)
        count = sum(1 for seq in sequences for t in seq if t != BOUNDARY)
        report[folder] = {
            "documents": len(group),
            "characters": count,
            "perplexity": round(perplexity(model, sequences), 3) if count else None,
        }
    return report
