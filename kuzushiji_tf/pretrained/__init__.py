"""The model shipped in the package, and model packages in general (docs/pretrained.md).

A model package (`kuzushiji-package-model`) holds a detector's and a classifier's weights (float16), the
arguments that rebuild them with the project's own builders, the vocabulary, the export options with the
context settings, and a manifest of every file's sha256. The release model ships as one, in
`kuzushiji_tf/pretrained/<config.SHIPPED_MODEL_NAME>-<config.SHIPPED_MODEL_VERSION>/`.

On first use a package is checked against its manifest and rebuilt into the user cache (`cache`): the
training folders that --detector, --classifier and --init read, and the page recogniser export (SavedModel,
or ONNX) that the reading commands load. `resolve` decides which model a command uses: --model when given,
else the shipped one; nothing is looked up implicitly.

    manifest   the layout, reading and checking the manifest (no TensorFlow)
    cache      where rebuilt folders go, and building each once (no TensorFlow)
    resolve    --model / shipped / package folder -> the folder a command loads (no TensorFlow)
    weights    weights by variable path in an .npz, float16
    packaging  writing a package from training folders
    rebuild    a package back into training folders and exports
"""

from kuzushiji_tf.pretrained.manifest import PackageError, is_package, verify
from kuzushiji_tf.pretrained.resolve import (
    SHIPPED,
    ModelChoice,
    NoShippedModelError,
    choose_page_model,
    shipped_model_available,
    shipped_model_dir,
    training_folder,
)

__all__ = [
    "SHIPPED",
    "ModelChoice",
    "NoShippedModelError",
    "PackageError",
    "choose_page_model",
    "is_package",
    "shipped_model_available",
    "shipped_model_dir",
    "training_folder",
    "verify",
]
