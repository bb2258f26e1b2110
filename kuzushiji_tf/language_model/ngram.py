"""An interpolated modified Kneser-Ney character n-gram model (Chen and Goodman 1998), numpy only.

Built from sequences of token ids (`tokens.encode_line`: BOUNDARY then a line's characters). BOUNDARY is a
context only: it opens a line and is never predicted (its probability is 0, log -inf), so each distribution
sums to 1 over the other tokens, UNKNOWN included. The lowest order is interpolated with the uniform
distribution over those tokens, so every class of the recogniser has a probability above 0.

Counts are pruned after estimation (`prune`: from order 2 up, n-grams seen at most that often are
dropped; the thresholds never decrease with the order, so the context and the suffix of every kept n-gram
are kept too), and the model is stored in backoff form, as ARPA files are: p(w | h) is the kept n-gram's
interpolated probability, else bow(h) * p(w | h minus its oldest token), with bow(h) chosen so that each
distribution still sums to 1. Unpruned, that is exactly the interpolated model.

Storage is a trie by order in CSR form: for order n, each (n-1)-gram entry owns a block of `words` (sorted
token ids), with `logp` and, below the highest order, `bow` (natural logs, float32; float16 in the file
of a model built with `half`). A query walks the
history's suffixes and fills the whole distribution over the vocabulary at once (a few vector operations);
the result is memoised per history, so the candidates of a beam search after one history cost an array
lookup each.
"""

from __future__ import annotations

import functools
import io
import json
import math
import threading
import zipfile
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from kuzushiji_tf.atomic_files import write_atomic
from kuzushiji_tf.errors import KuzushijiError
from kuzushiji_tf.language_model.tokens import BOUNDARY, SPECIAL, UNKNOWN

FORMAT = "kuzushiji_tf character n-gram model"
FORMAT_VERSION = 1
SHIPPED_PATH = Path(__file__).resolve().parent / "classical.lm"
DEFAULT_DISCOUNTS = (0.5, 1.0, 1.5)  # D1, D2, D3+ where a corpus is too small to estimate them
CACHE_SIZE = 2048  # memoised distributions (4,783 float32 each: 39 MB when full)


class LanguageModelError(KuzushijiError, ValueError):
    """A model file that is not one of ours, or not in a format version this code reads; names the file."""


def discounts(adjusted_counts: np.ndarray) -> tuple[float, float, float]:
    """Modified KN discounts D1, D2, D3+ from the counts of counts 1..4 (Chen and Goodman's estimates);
    a discount without statistics (a tiny corpus) takes DEFAULT_DISCOUNTS, each is clipped to [0, k]."""
    t = np.bincount(np.minimum(adjusted_counts, 5).astype(np.int64), minlength=6)[1:5].astype(np.float64)
    result = list(DEFAULT_DISCOUNTS)
    if t[0] > 0 and t[1] > 0:
        y = t[0] / (t[0] + 2 * t[1])
        for k in range(3):
            if t[k] > 0 and t[k + 1] > 0:
                result[k] = min(max(k + 1 - (k + 2) * y * t[k + 1] / t[k], 0.0), k + 1.0)
    return result[0], result[1], result[2]


def _discount_of(counts: np.ndarray, d: Sequence[float]) -> np.ndarray:
    table = np.array([0.0, d[0], d[1], d[2]])
    return table[np.minimum(counts, 3)]


def _segments(sequences: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    """The sequences concatenated, and for each position the position where its segment starts (a segment
    is a sequence, also cut before every BOUNDARY inside one)."""
    lengths = [len(seq) for seq in sequences]
    if not sum(lengths):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    tokens = np.fromiter((t for seq in sequences for t in seq), dtype=np.int64, count=sum(lengths))
    starts = np.zeros(len(tokens), dtype=bool)
    starts[np.cumsum([0, *lengths[:-1]])[np.array(lengths) > 0]] = True
    starts |= tokens == BOUNDARY
    position = np.arange(len(tokens))
    seg_start = np.maximum.accumulate(np.where(starts, position, 0)) if len(tokens) else position
    return tokens, seg_start


class NgramModel:
    """A character n-gram model in backoff form (see the module's docstring). Build with `build`, read with
    `load`; query with `log_prob` / `log_probs` (natural logs)."""

    BOUNDARY = BOUNDARY  # the id that opens a line: a history starts with it
    UNKNOWN = UNKNOWN  # the id of every code outside the vocabulary

    def __init__(
        self,
        order: int,
        vocabulary: Sequence[str],
        logp: list[np.ndarray],
        bow: list[np.ndarray],
        words: list[np.ndarray],
        children: list[np.ndarray],
        meta: dict | None = None,
    ):
        """`logp[n-1]`, `bow[n-1]`: per entry of order n (order 1: one per token; bow has orders 1..order-1);
        `words[n]`, `children[n]` for n >= 2: the tokens of the entries of order n, and per entry of order n-1
        how many entries of order n follow it (index 0 and 1 of `words` and `children` are unused)."""
        self.order = order
        self.vocabulary = tuple(vocabulary)
        self._index = {code: k for k, code in enumerate(self.vocabulary)}
        self.meta = dict(meta or {})
        self._logp = [np.asarray(a, dtype=np.float32) for a in logp]
        self._bow = [np.asarray(a, dtype=np.float32) for a in bow]
        self._words = [np.asarray(a, dtype=np.uint16) for a in words]
        self._children = [np.asarray(a, dtype=np.uint16) for a in children]
        size = len(self.vocabulary)
        # Per order n >= 2: where each (n-1)-gram's block starts, and global sorted keys parent * V + word.
        self._offsets: list[np.ndarray] = [np.zeros(1, np.int64), np.zeros(1, np.int64)]
        self._keys: list[np.ndarray] = [np.zeros(0, np.int64), np.zeros(0, np.int64)]
        for n in range(2, order + 1):
            counts = self._children[n].astype(np.int64)
            self._offsets.append(np.concatenate([[0], np.cumsum(counts)]))
            parents = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
            self._keys.append(parents * size + self._words[n])
        self._cache: OrderedDict[tuple[int, ...], np.ndarray] = OrderedDict()
        self._cache_lock = threading.Lock()  # a server's threads may share one model

    # --- queries -------------------------------------------------------------------------------------------

    def index(self, code: str) -> int:
        """The id of a code ("U+304B"); UNKNOWN for a code outside the vocabulary."""
        return self._index.get(code, UNKNOWN)

    def __len__(self) -> int:
        return len(self.vocabulary)

    @property
    def ngram_counts(self) -> list[int]:
        """How many n-grams of each order the model keeps (order 1: the vocabulary)."""
        return [len(a) for a in self._logp]

    def _child(self, order: int, parent: int, word: int) -> int:
        """The entry of order `order` for (entry `parent` of order-1, `word`), or -1."""
        keys = self._keys[order]
        key = parent * len(self.vocabulary) + word
        at = int(np.searchsorted(keys, key))
        return at if at < len(keys) and keys[at] == key else -1

    def _context_ids(self, context: tuple[int, ...]) -> list[int]:
        """Entry ids of the context's suffixes of length 1, 2, ... as long as they are kept."""
        ids = []
        for m in range(1, len(context) + 1):
            suffix = context[-m:]
            entry = suffix[0]
            for n in range(2, m + 1):
                entry = self._child(n, entry, suffix[n - 1])
                if entry < 0:
                    return ids
            ids.append(entry)
        return ids

    def distribution(self, history: Sequence[int]) -> np.ndarray:
        """log p(token | history) for every token of the vocabulary (float32, natural log; BOUNDARY -inf).
        Memoised per history (its last order-1 ids); do not modify the array."""
        context = tuple(int(t) for t in history[max(len(history) - self.order + 1, 0) :]) if self.order > 1 else ()
        with self._cache_lock:
            cached = self._cache.get(context)
            if cached is not None:
                self._cache.move_to_end(context)
                return cached
        dist = self._logp[0].copy()
        for m, entry in enumerate(self._context_ids(context), start=1):
            dist += self._bow[m - 1][entry]
            lo, hi = self._offsets[m + 1][entry], self._offsets[m + 1][entry + 1]
            dist[self._words[m + 1][lo:hi]] = self._logp[m][lo:hi]
        dist.setflags(write=False)
        with self._cache_lock:
            self._cache[context] = dist
            if len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        return dist

    def log_prob(self, history: Sequence[int], token: int) -> float:
        """log p(token | history), natural log; the history's most recent id last, only its last order-1
        ids matter. BOUNDARY is never predicted: -inf."""
        return float(self.distribution(history)[token])

    def log_probs(self, history: Sequence[int], tokens: Sequence[int]) -> np.ndarray:
        """log p(t | history) of several candidates `tokens` after one history (float32 array)."""
        return self.distribution(history)[np.asarray(tokens, dtype=np.int64)]

    def score(self, sequences: Sequence[Sequence[int]]) -> np.ndarray:
        """log p of every token of the sequences after its history within its sequence, vectorised (one value
        per token in order; BOUNDARY tokens score 0). The same values as log_prob, much faster for a corpus."""
        tokens, seg_start = _segments(sequences)
        size = len(self.vocabulary)
        total = np.zeros(len(tokens), dtype=np.float64)
        if not len(tokens):
            return total
        position = np.arange(len(tokens))
        # ids[m-1][pos]: entry of the m-gram that ends at pos (within its segment), or -1.
        ids = [tokens.copy()]
        for m in range(2, self.order + 1):
            prev = np.full(len(tokens), -1, np.int64)
            prev[1:] = ids[-1][:-1]
            ok = (prev >= 0) & (position - m + 1 >= seg_start)
            found = np.full(len(tokens), -1, np.int64)
            table = self._keys[m]
            if ok.any() and len(table):
                keys = prev[ok] * size + tokens[ok]
                at = np.minimum(np.searchsorted(table, keys), len(table) - 1)
                found[ok] = np.where(table[at] == keys, at, -1)
            ids.append(found)
        # Longest kept n-gram ending at each position, then the bows of the longer contexts it backed off from.
        done = np.zeros(len(tokens), dtype=bool)
        backoff = np.zeros(len(tokens), dtype=np.float64)
        for m in range(self.order, 0, -1):
            hit = ~done & (ids[m - 1] >= 0)
            total[hit] = self._logp[m - 1][ids[m - 1][hit]]
            done |= hit
            if m >= 2:  # not hit at order m: add bow of the context of length m-1 (ending at pos-1), if kept
                context = np.full(len(tokens), -1, np.int64)
                context[1:] = ids[m - 2][:-1]
                usable = ~done & (context >= 0) & (position - m + 1 >= seg_start)
                backoff[usable] += self._bow[m - 2][context[usable]]
        total += backoff
        total[tokens == BOUNDARY] = 0.0
        return total

    # --- files ---------------------------------------------------------------------------------------------

    def save(self, path: str | Path) -> Path:
        """Writes the model to `path` atomically (a compressed .npz: vocabulary, metadata, the trie)."""
        meta = {**self.meta, "format": FORMAT, "format_version": FORMAT_VERSION, "order": self.order}
        arrays = {
            "meta": np.frombuffer(json.dumps(meta, ensure_ascii=False, sort_keys=True).encode(), np.uint8),
            "vocabulary": np.frombuffer("\n".join(self.vocabulary).encode(), np.uint8),
        }
        for n in range(1, self.order + 1):
            half = self.meta.get("half") and n >= 2  # float16 values held as float32: saved exactly
            arrays[f"logp_{n}"] = self._logp[n - 1].astype(np.float16) if half else self._logp[n - 1]
            if n < self.order:
                arrays[f"bow_{n}"] = self._bow[n - 1].astype(np.float16) if half else self._bow[n - 1]
            if n >= 2:
                arrays[f"words_{n}"] = self._words[n]
                arrays[f"children_{n}"] = self._children[n]
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
            for name, array in arrays.items():  # numpy's .npz layout, with fixed dates: same model, same bytes
                member = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
                member.compress_type = zipfile.ZIP_DEFLATED
                npy = io.BytesIO()
                np.lib.format.write_array(npy, np.ascontiguousarray(array), allow_pickle=False)
                archive.writestr(member, npy.getvalue(), compresslevel=9)
        return write_atomic(path, buffer.getvalue())

    @classmethod
    def load(cls, path: str | Path) -> NgramModel:
        """Reads a model written by `save`; LanguageModelError naming the file if it is not one, or is of a
        format version this code cannot read."""
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {name: data[name] for name in data.files}
        except FileNotFoundError as e:
            raise LanguageModelError(f"{path}: no such language model file") from e
        except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
            raise LanguageModelError(f"{path}: not a kuzushiji_tf language model (cannot read it: {e})") from e
        try:
            meta = json.loads(arrays["meta"].tobytes().decode())
        except (KeyError, ValueError) as e:
            raise LanguageModelError(f"{path}: not a kuzushiji_tf language model (no metadata)") from e
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise LanguageModelError(f"{path}: not a kuzushiji_tf language model")
        if meta.get("format_version") != FORMAT_VERSION:
            raise LanguageModelError(
                f"{path}: language model format version {meta.get('format_version')!r}; this code reads "
                f"version {FORMAT_VERSION}: rebuild it with kuzushiji-build-lm"
            )
        try:
            order = int(meta["order"])
            vocabulary = arrays["vocabulary"].tobytes().decode().split("\n")
            logp = [arrays[f"logp_{n}"] for n in range(1, order + 1)]
            bow = [arrays[f"bow_{n}"] for n in range(1, order)]
            words = [np.zeros(0), np.zeros(0)] + [arrays[f"words_{n}"] for n in range(2, order + 1)]
            children = [np.zeros(0), np.zeros(0)] + [arrays[f"children_{n}"] for n in range(2, order + 1)]
        except (KeyError, ValueError) as e:
            raise LanguageModelError(f"{path}: a damaged language model ({e})") from e
        sizes_ok = tuple(vocabulary[:2]) == SPECIAL and len(logp[0]) == len(vocabulary)
        for n in range(2, order + 1):
            sizes_ok &= len(children[n]) == len(logp[n - 2]) and int(children[n].sum(dtype=np.int64)) == len(words[n])
            sizes_ok &= len(words[n]) == len(logp[n - 1])
        for n in range(1, order):
            sizes_ok &= len(bow[n - 1]) == len(logp[n - 1])
        if not sizes_ok:
            raise LanguageModelError(f"{path}: a damaged language model (its arrays do not fit together)")
        del meta["format"], meta["format_version"], meta["order"]
        return cls(order, vocabulary, logp, bow, words, children, meta)

    # --- building ------------------------------------------------------------------------------------------

    @classmethod
    def build(
        cls,
        sequences: Sequence[Sequence[int]],
        vocabulary: Sequence[str],
        order: int,
        prune: Sequence[int] = (),
        meta: dict | None = None,
        *,
        half: bool = False,
    ) -> NgramModel:
        """An interpolated modified KN model of `order` from `sequences` of ids (each normally BOUNDARY and a
        line's tokens). `prune[k]`: drop n-grams of order k+2 seen at most that many times (0 keeps all; the
        last value holds for the higher orders; values must not decrease). `half`: log probabilities of
        orders 2 and up and the backoff weights rounded to float16 (files a third smaller); the weights are
        computed from the rounded probabilities, so each distribution still sums to 1 within about 1e-3."""
        if order < 1:
            raise ValueError(f"order must be at least 1, not {order}")
        prune = [int(p) for p in prune] or [0]
        if any(p < 0 for p in prune) or any(b < a for a, b in zip(prune, prune[1:])):
            raise ValueError(f"pruning thresholds must be >= 0 and must not decrease with the order: {prune}")
        thresholds = [0] + [prune[min(k, len(prune) - 1)] for k in range(order - 1)]  # per order 1..N
        size = len(vocabulary)
        if not 2 < size <= np.iinfo(np.uint16).max:
            raise ValueError(f"a vocabulary of {size} tokens: it holds <unk>, <s> and at most 65,533 more")
        sequences = [seq if len(seq) and seq[0] == BOUNDARY else [BOUNDARY, *seq] for seq in sequences]
        tokens, seg_start = _segments(sequences)
        if len(tokens) and (tokens.min() < 0 or tokens.max() >= size):
            raise ValueError(f"token ids must lie in [0, {size})")
        position = np.arange(len(tokens))
        predicted = size - 1  # every token but BOUNDARY

        # Count: per order, the distinct n-grams (sorted keys prefix-id * V + last token), their raw counts,
        # and at each position the id of the n-gram starting there (-1 where it would leave the segment).
        start_ids = [tokens.copy()]  # order 1: the token is its id
        raw = [np.bincount(tokens, minlength=size)]
        keys = [np.arange(size, dtype=np.int64)]
        first_pos: list[np.ndarray] = [np.full(size, -1, np.int64)]
        for n in range(2, order + 1):
            end = position + n - 1
            ok = np.zeros(len(tokens), dtype=bool)
            inside = end < len(tokens)
            ok[inside] = (seg_start[end[inside]] == seg_start[inside]) & (start_ids[-1][inside] >= 0)
            key = start_ids[-1][ok] * size + tokens[end[ok]]
            unique, first, inverse, count = np.unique(key, return_index=True, return_inverse=True, return_counts=True)
            ids = np.full(len(tokens), -1, np.int64)
            ids[ok] = inverse.reshape(-1)
            start_ids.append(ids)
            keys.append(unique)
            raw.append(count)
            first_pos.append(np.flatnonzero(ok)[first])

        # Adjusted counts: raw at the highest order and for n-grams that start with BOUNDARY, else the number
        # of distinct tokens seen before the n-gram (its continuation count).
        adjusted = []
        for n in range(1, order + 1):
            if n == order:
                adjusted.append(raw[n - 1].astype(np.int64))
                continue
            suffix = start_ids[n - 1][first_pos[n] + 1]  # the n-gram that each distinct (n+1)-gram ends with
            continuation = np.bincount(suffix, minlength=len(keys[n - 1]))
            first_token = keys[n - 1] if n == 1 else tokens[first_pos[n - 1]]
            adjusted.append(np.where(first_token == BOUNDARY, raw[n - 1], continuation).astype(np.int64))

        # Interpolated probabilities of every distinct n-gram, order by order.
        probs: list[np.ndarray] = []
        used_discounts = []
        a1 = adjusted[0].copy()
        a1[BOUNDARY] = 0
        d = discounts(a1[a1 > 0])
        used_discounts.append(d)
        total = max(a1.sum(), 1)
        gamma = (d[0] * (a1 == 1).sum() + d[1] * (a1 == 2).sum() + d[2] * (a1 >= 3).sum()) / total
        if a1.sum() == 0:
            gamma = 1.0
        p1 = (a1 - _discount_of(a1, d)) / total + gamma / predicted
        p1[BOUNDARY] = 0.0
        probs.append(p1)
        for n in range(2, order + 1):
            a = adjusted[n - 1]
            parent = keys[n - 1] // size
            d = discounts(a)
            used_discounts.append(d)
            n_parents = len(keys[n - 2])
            total = np.bincount(parent, weights=a, minlength=n_parents).astype(np.float64)  # int64 when empty
            mass = np.bincount(parent, weights=_discount_of(a, d), minlength=n_parents).astype(np.float64)
            gamma = np.divide(mass, total, out=np.zeros_like(mass), where=total > 0)
            lower = probs[n - 2][start_ids[n - 2][first_pos[n - 1] + 1]]  # p of the n-gram's (n-1)-suffix
            probs.append((a - _discount_of(a, d)) / total[parent] + gamma[parent] * lower)

        # Prune, renumber, and turn into backoff form.
        keep = [np.ones(size, dtype=bool)] + [raw[n - 1] > thresholds[n - 1] for n in range(2, order + 1)]
        new_id = [np.cumsum(k) - 1 for k in keep]
        # The probabilities as stored: float32 logs (order 1 always), float16 ones with `half`.
        stored = []
        with np.errstate(divide="ignore"):
            for n in range(1, order + 1):
                dtype = np.float16 if half and n >= 2 else np.float32
                stored.append(np.exp(np.log(probs[n - 1]).astype(dtype).astype(np.float64)))
        logp, bow, words, children = [], [], [np.zeros(0), np.zeros(0)], [np.zeros(0), np.zeros(0)]
        with np.errstate(divide="ignore"):
            logp.append(np.log(stored[0]))
        for n in range(2, order + 1):
            k = keep[n - 1]
            parent_old = keys[n - 1][k] // size
            parent = new_id[n - 2][parent_old]
            kept_probs = stored[n - 1][k]
            suffix_old = start_ids[n - 2][first_pos[n - 1][k] + 1]
            lower = stored[n - 2][suffix_old]
            n_parents = int(keep[n - 2].sum())
            numerator = 1.0 - np.bincount(parent, weights=kept_probs, minlength=n_parents)
            denominator = 1.0 - np.bincount(parent, weights=lower, minlength=n_parents)
            tiny = 1e-12
            backoff = np.maximum(numerator, tiny) / np.maximum(denominator, tiny)
            bow.append(np.log(backoff).astype(np.float16 if half else np.float32))
            logp.append(np.log(kept_probs))
            words.append(keys[n - 1][k] % size)
            children.append(np.bincount(parent, minlength=n_parents))
        meta = {
            **(meta or {}),
            "prune": thresholds[1:],
            "half": bool(half),
            "training_tokens": int((tokens != BOUNDARY).sum()),
            "discounts": [[round(x, 6) for x in d] for d in used_discounts],
        }
        model = cls(order, vocabulary, logp, bow, words, children, meta)
        return model


def perplexity(model: NgramModel, sequences: Sequence[Sequence[int]]) -> float:
    """Per-token perplexity of `sequences` (BOUNDARY tokens are neither scored nor counted)."""
    tokens = [t for seq in sequences for t in seq]
    count = sum(1 for t in tokens if t != BOUNDARY)
    if not count:
        raise ValueError("no token to measure the perplexity of")
    return math.exp(-float(model.score(sequences).sum()) / count)


@functools.cache
def shipped_model() -> NgramModel:
    """The model shipped in the package (classical.lm, see docs/language_model.md), read once."""
    return NgramModel.load(SHIPPED_PATH)
