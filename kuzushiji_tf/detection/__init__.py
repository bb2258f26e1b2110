"""Detector outputs to boxes in scan pixels (TensorFlow NMS, adaptive scales, box voting), and the
detections of a whole Kaggle-layout folder written to a file."""
