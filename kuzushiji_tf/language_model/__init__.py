"""A character language model of classical Japanese, TensorFlow-free (numpy only): `tokens` turns text into
the ids of the recogniser's classes, `ngram` holds the interpolated Kneser-Ney n-gram model, `build` makes
one from folders of text and reports its held-out perplexity (docs/language_model.md).

    from kuzushiji_tf.language_model import shipped_model
    lm = shipped_model()
    lm.log_probs([lm.BOUNDARY, lm.index("U+3054")], [lm.index("U+3056")])
"""

from kuzushiji_tf.language_model.ngram import LanguageModelError, NgramModel, perplexity, shipped_model
from kuzushiji_tf.language_model.tokens import BOUNDARY, UNKNOWN

__all__ = ["BOUNDARY", "UNKNOWN", "LanguageModelError", "NgramModel", "perplexity", "shipped_model"]
