"""Kaggle file formats (train.csv, submissions, page images) in plain Python, numpy and pandas: no TensorFlow."""
