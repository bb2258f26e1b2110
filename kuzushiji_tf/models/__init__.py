"""Keras 3 models (keras, keras.ops and keras_hub only, never TensorFlow), so they run on every backend."""
