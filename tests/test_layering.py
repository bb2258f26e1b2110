"""The import direction of STYLE.md, checked with `ast`: the backend promise and light worker processes."""
import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "kuzushiji_tf"

# module prefix -> imports it must never make
FORBIDDEN = {
    "kuzushiji_tf.structures": ("tensorflow", "keras", "kuzushiji_tf.kaggle", "kuzushiji_tf.data"),
    "kuzushiji_tf.kaggle": ("tensorflow", "keras", "kuzushiji_tf.data", "kuzushiji_tf.models"),
    "kuzushiji_tf.atomic_files": ("tensorflow", "keras", "kuzushiji_tf.data", "kuzushiji_tf.models"),
    "kuzushiji_tf.evaluation.metric": ("tensorflow", "keras", "kuzushiji_tf.data", "kuzushiji_tf.models"),
    "kuzushiji_tf.synthetic": ("tensorflow", "keras", "kuzushiji_tf.data", "kuzushiji_tf.models"),
    "kuzushiji_tf.data": ("keras", "kuzushiji_tf.models", "kuzushiji_tf.engine", "kuzushiji_tf.inference"),
    "kuzushiji_tf.models": ("tensorflow", "kuzushiji_tf.data", "kuzushiji_tf.engine", "kuzushiji_tf.inference"),
    # Reading scans and writing formats run before (and without) any model: usage errors stay instant.
    "kuzushiji_tf.scans": ("tensorflow", "keras", "kuzushiji_tf.data", "kuzushiji_tf.models",
                           "kuzushiji_tf.inference"),
    "kuzushiji_tf.formats": ("tensorflow", "keras", "kuzushiji_tf.data", "kuzushiji_tf.models",
                             "kuzushiji_tf.inference"),
    # The ONNX recogniser, the server and the backend-neutral recognition run without TensorFlow (the ONNX
    # backend); the TF backend is imported only when a SavedModel is loaded.
    "kuzushiji_tf.backends.onnx.runtime": ("tensorflow", "keras", "kuzushiji_tf.data", "kuzushiji_tf.models"),
    "kuzushiji_tf.backends.onnx.images": ("tensorflow", "keras"),
    "kuzushiji_tf.backends.onnx.postprocess": ("tensorflow", "keras"),
    "kuzushiji_tf.serving": ("tensorflow", "keras", "kuzushiji_tf.data", "kuzushiji_tf.models"),
    "kuzushiji_tf.serve": ("tensorflow", "keras"),
    "kuzushiji_tf.cli.serve": ("tensorflow", "keras"),
    "kuzushiji_tf.recognition.contract": ("tensorflow", "keras"),
    "kuzushiji_tf.recognition.batch_recognition": ("tensorflow", "keras"),
    "kuzushiji_tf.recognition.folder_recognition": ("tensorflow", "keras"),
    "kuzushiji_tf.recognition.page_text": ("tensorflow", "keras"),
    "kuzushiji_tf.recognition.reading_order": ("tensorflow", "keras"),
    "kuzushiji_tf": ("tools",),
}


def _imports(path: Path):
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_no_module_imports_against_the_layering():
    violations = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = _module_name(path)
        for prefix, banned in FORBIDDEN.items():
            if module == prefix or module.startswith(prefix + "."):
                for name in _imports(path):
                    if any(name == b or name.startswith(b + ".") for b in banned):
                        violations.append(f"{module} imports {name}")
    assert violations == []


def test_reader_metric_generator_and_record_workers_load_no_tensorflow():
    code = ("import sys, kuzushiji_tf, kuzushiji_tf.datasets.kaggle_reader, kuzushiji_tf.datasets.kaggle_submission, "
            "kuzushiji_tf.evaluation.metric, kuzushiji_tf.synthetic, kuzushiji_tf.data.record_images, kuzushiji_tf.scans, "
            "kuzushiji_tf.scans.pdf, kuzushiji_tf.scans.iiif, kuzushiji_tf.formats, kuzushiji_tf.serving.app, "
            "kuzushiji_tf.serve, kuzushiji_tf.cli.serve, kuzushiji_tf.recognition.folder_recognition, kuzushiji_tf.backends.onnx; "
            "print('tensorflow' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
