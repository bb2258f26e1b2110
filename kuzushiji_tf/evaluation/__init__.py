"""Scoring in numpy: the competition metric, its error report, and the guard that keeps the labelled real
pages (the real test set) out of training. The models measured on those pages live in `measure`."""
