"""A character language model of classical Japanese, TensorFlow-free (numpy only): `tokens` turns text into
the ids of the recogniser's classes, `ngram` holds the interpolated Kneser-Ney n-gram model, `build` makes
one from folders of text and reports its held-out perplexity (docs/language_model.md)."""
