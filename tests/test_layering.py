"""What the import-linter contracts (`make lint`) cannot see: modules that must run without TensorFlow
really load none of it at run time (the ONNX backend, the server, record workers, usage errors)."""

import subprocess
import sys


def test_reader_metric_generator_and_record_workers_load_no_tensorflow():
    code = (
        "import sys, kuzushiji_tf, kuzushiji_tf.datasets.kaggle_reader, kuzushiji_tf.datasets.kaggle_submission, "
        "kuzushiji_tf.evaluation.metric, kuzushiji_tf.synthetic, kuzushiji_tf.data.record_images, kuzushiji_tf.scans, "
        "kuzushiji_tf.scans.pdf, kuzushiji_tf.scans.iiif, kuzushiji_tf.formats, kuzushiji_tf.serving.app, "
        "kuzushiji_tf.serve, kuzushiji_tf.recognition.folder_recognition, kuzushiji_tf.recognition.contract, "
        "kuzushiji_tf.backends.loading, kuzushiji_tf.backends.onnx, kuzushiji_tf.pretrained; "
        "print('tensorflow' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
