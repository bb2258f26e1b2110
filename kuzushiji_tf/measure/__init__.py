"""Trained models measured on the labelled real pages: the classifier on the true boxes, the detector,
and an exported recogniser end to end. Above the backends and the detection code it measures, which is
why it is not part of the numpy-only `evaluation` package they themselves use."""
