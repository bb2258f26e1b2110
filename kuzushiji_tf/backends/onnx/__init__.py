"""The page recogniser without TensorFlow: an ONNX export (`detector.onnx`, `classifier.onnx` and the
assets of the SavedModel export) run by ONNX Runtime, with numpy and OpenCV for the glue between them.

`OnnxPageModel` (runtime.py) and the modules it uses (images.py, postprocess.py) import no TensorFlow or
Keras; `export.py` (which writes the folder from the Keras models) does, and is not imported here.
"""

from kuzushiji_tf.backends.onnx.runtime import OnnxPageModel

__all__ = ["OnnxPageModel"]
