"""Packaging for kuzushiji_tf. Versions follow the decisions in README.md ("Dependencies")."""
from pathlib import Path

from setuptools import find_packages, setup

ROOT = Path(__file__).parent
SERVE = ["fastapi>=0.115", "uvicorn>=0.30", "python-multipart>=0.0.18", "prometheus-client>=0.20"]
# Apache Beam (Apache-2.0) for tools/recognize.py --runner (kuzushiji_tf/beam_recognition). An extra: Beam pins
# protobuf<7 and Pillow<13, so with it pip takes protobuf 6.33 and Pillow 12.3 (both within TensorFlow 2.21's
# ranges) where the core install takes protobuf 7 and Pillow 13; benchmarks/extras_resolution.py shows both.
BEAM = ["apache-beam>=2.77,<3"]
ONNX = ["onnxruntime>=1.20", "simplejpeg>=1.7", "tf2onnx>=1.16", "onnx>=1.16"]
version = {}
exec((ROOT / "kuzushiji_tf" / "__init__.py").read_text(), version)

setup(
    name="kuzushiji_tf",
    version=version["__version__"],
    description="Find and recognise kuzushiji (cursive Japanese) characters on book pages with Keras 3 / TensorFlow.",
    long_description=(ROOT / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="Apache-2.0 (code); CC BY-SA 4.0 (bundled sample data)",
    python_requires=">=3.10",
    packages=find_packages(include=["kuzushiji_tf", "kuzushiji_tf.*"]),
    include_package_data=True,
    package_data={"kuzushiji_tf": ["sample_data/kaggle_5p/*", "sample_data/kaggle_5p/*/*",
                                   "sample_data/unlabelled_real/*", "sample_data/unlabelled_real/*/*"]},
    install_requires=[
        # Plain `tensorflow`: never add `tensorflow-cpu` beside it, both write the same folder.
        "tensorflow==2.21.*",
        "keras==3.15.*",
        "keras-hub>=0.22",
        "opencv-python-headless>=4.8",
        # Pillow renders TrueType brush fonts for the synthetic pages (OpenCV's headless wheel has no
        # FreeType) and reads image headers (size, mode, bit depth) before anything is decoded.
        "Pillow>=10",
        "pandas>=2.0",
        # TensorFlow 2.21 no longer installs TensorBoard, and tf.summary (training logs) needs it.
        "tensorboard==2.21.*",
        "numpy>=1.26",
        # lxml builds the XML output formats (PAGE, ALTO, hOCR, TEI) with proper escaping; tests validate
        # PAGE and ALTO against their XSDs with it.
        "lxml>=5",
        # Rasterises PDF pages for OCR (kuzushiji_tf/scans/pdf.py); Apache-2.0/BSD, where PyMuPDF is AGPL.
        "pypdfium2>=5",
    ],
    extras_require={
        "gpu": ["tensorflow[and-cuda]==2.21.*"],
        # The page recogniser on ONNX Runtime (kuzushiji_tf/onnx_recognizer; tools/export.py --format onnx):
        # onnxruntime (MIT) runs it; simplejpeg (MIT, bundles libjpeg-turbo) decodes JPEG with TensorFlow's DCT
        # so pixels match the SavedModel's; tf2onnx and onnx (both Apache-2.0) write it. One extra: the
        # package needs TensorFlow anyway, so a run-only extra would save nothing.
        "onnx": ONNX,
        # The HTTP server (python -m kuzushiji_tf.serve): FastAPI (MIT) on uvicorn (BSD-3-Clause), multipart
        # uploads parsed in memory by python-multipart (Apache-2.0), metrics by prometheus-client (Apache-2.0).
        "serve": SERVE,
        "beam": BEAM,
        # Playwright (Apache-2.0) drives Debian's Chromium in the web page's test; it downloads no browser.
        # pytest-xdist runs the suite on both cores of a CI machine (1,319 s on one process at the last CI, 697 s
        # with -n 2 on the same 2 cores; docs/benchmarks.md).
        # dev holds every extra, so `make test` runs the Beam, ONNX and serving tests in one environment; Beam's
        # S3 filesystem (boto3) and moto's S3 server (Apache-2.0) let a test run the pipeline against buckets.
        "dev": ["pytest>=8", "pytest-xdist>=3", "tensorflow-serving-api==2.21.*", "playwright>=1.50", *ONNX, *SERVE,
                *BEAM, "apache-beam[aws]", "moto[s3,server]>=5"],
    },
)
