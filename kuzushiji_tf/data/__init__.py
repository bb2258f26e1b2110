"""Records and tf.data input. Importing this package loads nothing: the record builder's worker
processes import `record_images` alone and never pay for TensorFlow."""
