"""Book-grouped K-fold split. Pages of one book look alike (one hand, one paper), so a page-level split
would leak: validation must hold books the model never saw. Deterministic: the same ids give the same folds.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from kuzushiji_tf.structures import Page, book_of

DEFAULT_NUM_FOLDS = 4  # docs/recipe.md: 4 folds grouped by book


def assign_book_folds(
    image_ids: Sequence[str], num_folds: int = DEFAULT_NUM_FOLDS, *, books: Sequence[str] | None = None
) -> dict[str, int]:
    """{book: fold}. Largest books first, each to the fold with the fewest pages so far (ties: lowest fold),
    which balances page counts as GroupKFold does, without depending on input order. `books`, one per
    image id, overrides `book_of` (a source that names its books, as CODH's folders do)."""
    if num_folds < 2:
        raise ValueError(f"num_folds must be at least 2; received {num_folds}")
    if books is None:
        books = [book_of(image_id) for image_id in image_ids]
    pages_per_book = Counter(books)
    if len(pages_per_book) < num_folds:
        raise ValueError(
            f"{len(pages_per_book)} book(s) cannot fill {num_folds} book-grouped folds; "
            f"use --full-data (train on everything) or fewer --num-folds"
        )
    fold_sizes = [0] * num_folds
    folds = {}
    for book, count in sorted(pages_per_book.items(), key=lambda item: (-item[1], item[0])):
        fold = min(range(num_folds), key=lambda k: (fold_sizes[k], k))
        folds[book] = fold
        fold_sizes[fold] += count
    return folds


def split_pages(
    pages: Sequence[Page], *, fold: int = 0, num_folds: int = DEFAULT_NUM_FOLDS, full_data: bool = False
) -> tuple[list[Page], list[Page]]:
    """(train, val). Fold `fold` is validation; with `full_data` every page trains and val is empty,
    as for the recipe's final models."""
    if full_data:
        return list(pages), []
    if not 0 <= fold < num_folds:
        raise ValueError(f"fold must be in 0..{num_folds - 1}; received {fold}")
    folds = assign_book_folds([page.image_id for page in pages], num_folds, books=[page.book for page in pages])
    train = [page for page in pages if folds[page.book] != fold]
    val = [page for page in pages if folds[page.book] == fold]
    return train, val
