"""Kuzushiji page recognition: CenterNet detector, MobileNetV3 classifier, Kaggle-format data tools.

Importing the package loads no TensorFlow: the Kaggle reader, the metric and the synthetic generator
are plain Python, numpy and pandas.
"""

__version__ = "0.1.0"
