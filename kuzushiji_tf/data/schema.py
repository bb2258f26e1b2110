"""The TFRecord schema: feature keys, and the encoder and decoder of each record kind side by side so
they cannot drift. Keys follow the TF Object Detection convention (`image/object/bbox/xmin`).

Page records (detector training, test pages) hold the page shrunk to a capped short side; boxes are in
those stored pixels and `image/scale_{x,y}` maps original pixels to stored ones. Crop records hold one
square character crop each (1.4 x the box's longer side around its centre).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

IMAGE = "image/encoded"
IMAGE_ID = "image/id"
BOOK = "image/book"
ORIGINAL_WIDTH = "image/original_width"
ORIGINAL_HEIGHT = "image/original_height"
WIDTH = "image/width"
HEIGHT = "image/height"
SCALE_X = "image/scale_x"
SCALE_Y = "image/scale_y"
XMIN, YMIN, XMAX, YMAX = (f"image/object/bbox/{k}" for k in ("xmin", "ymin", "xmax", "ymax"))
LABEL = "image/object/class/label"
CODE = "image/object/class/code"
# A page box with this label is not a character the page is sure of: a teacher's unsure detection on a
# pseudo-labelled scan (`kuzushiji-pseudo-label --images`). The detector neither learns it as a character
# nor as background; every other label is a class id >= 0.
UNCERTAIN_LABEL = -1
CROP_LABEL = "crop/class/label"
CROP_CODE = "crop/class/code"
CROP_BOX = "crop/source_box"  # the character's box, xyxy in original page pixels
CROP_INDEX = "crop/index"  # position of the character in its page's labels


def _bytes(values):
    return tf.train.Feature(
        bytes_list=tf.train.BytesList(value=[v if isinstance(v, bytes) else v.encode() for v in values])
    )


def _serialize(features: dict) -> bytes:
    # Deterministic: the feature map is otherwise written in an order that varies with the process's hash
    # seed, so a build resumed in another process would hash its shards differently from a clean one.
    return tf.train.Example(features=tf.train.Features(feature=features)).SerializeToString(deterministic=True)


def _ints(values):
    return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(v) for v in values]))


def _floats(values):
    return tf.train.Feature(float_list=tf.train.FloatList(value=[float(v) for v in values]))


def encode_page(
    *,
    image_jpeg: bytes,
    image_id: str,
    book: str,
    original_size: tuple[int, int],
    stored_size: tuple[int, int],
    scale: tuple[float, float],
    boxes: np.ndarray,
    labels,
    codes,
) -> bytes:
    """Serialises a page. Sizes are (width, height); scale is (x, y); boxes [N, 4] xyxy stored pixels."""
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    features = {
        IMAGE: _bytes([image_jpeg]),
        IMAGE_ID: _bytes([image_id]),
        BOOK: _bytes([book]),
        ORIGINAL_WIDTH: _ints([original_size[0]]),
        ORIGINAL_HEIGHT: _ints([original_size[1]]),
        WIDTH: _ints([stored_size[0]]),
        HEIGHT: _ints([stored_size[1]]),
        SCALE_X: _floats([scale[0]]),
        SCALE_Y: _floats([scale[1]]),
        XMIN: _floats(boxes[:, 0]),
        YMIN: _floats(boxes[:, 1]),
        XMAX: _floats(boxes[:, 2]),
        YMAX: _floats(boxes[:, 3]),
        LABEL: _ints(labels),
        CODE: _bytes(codes),
    }
    return _serialize(features)


_PAGE_FEATURES = {
    IMAGE: tf.io.FixedLenFeature([], tf.string),
    IMAGE_ID: tf.io.FixedLenFeature([], tf.string),
    BOOK: tf.io.FixedLenFeature([], tf.string),
    ORIGINAL_WIDTH: tf.io.FixedLenFeature([], tf.int64),
    ORIGINAL_HEIGHT: tf.io.FixedLenFeature([], tf.int64),
    SCALE_X: tf.io.FixedLenFeature([], tf.float32),
    SCALE_Y: tf.io.FixedLenFeature([], tf.float32),
    XMIN: tf.io.VarLenFeature(tf.float32),
    YMIN: tf.io.VarLenFeature(tf.float32),
    XMAX: tf.io.VarLenFeature(tf.float32),
    YMAX: tf.io.VarLenFeature(tf.float32),
    LABEL: tf.io.VarLenFeature(tf.int64),
    CODE: tf.io.VarLenFeature(tf.string),
}


def decode_page(serialized: tf.Tensor, decode_image: bool = True) -> dict:
    """Parses one page record.

    Returns:
        image: uint8 [H, W, 3] (the stored page), or the JPEG bytes when `decode_image` is False.
        boxes: float32 [N, 4] xyxy in stored pixels.  labels: int32 [N].  codes: string [N].
        image_id, book: string [].  original_size: int32 [2] (height, width) of the original scan.
        scale: float32 [2] (y, x), original pixels -> stored pixels.
    """
    parsed = tf.io.parse_single_example(serialized, _PAGE_FEATURES)
    dense = {k: tf.sparse.to_dense(parsed[k]) for k in (XMIN, YMIN, XMAX, YMAX, LABEL)}
    image = parsed[IMAGE]
    if decode_image:
        image = tf.io.decode_jpeg(image, channels=3)
    return {
        "image": image,
        "boxes": tf.stack([dense[XMIN], dense[YMIN], dense[XMAX], dense[YMAX]], axis=1),
        "labels": tf.cast(dense[LABEL], tf.int32),
        "codes": tf.sparse.to_dense(parsed[CODE], default_value=b""),
        "image_id": parsed[IMAGE_ID],
        "book": parsed[BOOK],
        "original_size": tf.cast(tf.stack([parsed[ORIGINAL_HEIGHT], parsed[ORIGINAL_WIDTH]]), tf.int32),
        "scale": tf.stack([parsed[SCALE_Y], parsed[SCALE_X]]),
    }


def encode_crop(*, image_jpeg: bytes, label: int, code: str, image_id: str, book: str, source_box, index: int) -> bytes:
    """Serialises one character crop; `source_box` is xyxy in original page pixels."""
    features = {
        IMAGE: _bytes([image_jpeg]),
        CROP_LABEL: _ints([label]),
        CROP_CODE: _bytes([code]),
        IMAGE_ID: _bytes([image_id]),
        BOOK: _bytes([book]),
        CROP_BOX: _floats(source_box),
        CROP_INDEX: _ints([index]),
    }
    return _serialize(features)


_CROP_FEATURES = {
    IMAGE: tf.io.FixedLenFeature([], tf.string),
    CROP_LABEL: tf.io.FixedLenFeature([], tf.int64),
    CROP_CODE: tf.io.FixedLenFeature([], tf.string),
    IMAGE_ID: tf.io.FixedLenFeature([], tf.string),
    BOOK: tf.io.FixedLenFeature([], tf.string),
    CROP_BOX: tf.io.FixedLenFeature([4], tf.float32),
    CROP_INDEX: tf.io.FixedLenFeature([], tf.int64),
}


def decode_crop_for_training(serialized: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """(image uint8 [S, S, 3], label int32 []) of one crop record: only the two features training reads,
    as parsing the other five costs a sixth of a crop's decode."""
    parsed = tf.io.parse_single_example(serialized, {key: _CROP_FEATURES[key] for key in (IMAGE, CROP_LABEL)})
    return tf.io.decode_jpeg(parsed[IMAGE], channels=3), tf.cast(parsed[CROP_LABEL], tf.int32)


def decode_crop(serialized: tf.Tensor, decode_image: bool = True) -> dict:
    """Parses one crop record.

    Returns:
        image: uint8 [S, S, 3] (or JPEG bytes).  label: int32 [].  code, image_id, book: string [].
        source_box: float32 [4] xyxy in original page pixels.  index: int32 [] position on the page.
    """
    parsed = tf.io.parse_single_example(serialized, _CROP_FEATURES)
    image = parsed[IMAGE]
    if decode_image:
        image = tf.io.decode_jpeg(image, channels=3)
    return {
        "image": image,
        "label": tf.cast(parsed[CROP_LABEL], tf.int32),
        "code": parsed[CROP_CODE],
        "image_id": parsed[IMAGE_ID],
        "book": parsed[BOOK],
        "source_box": parsed[CROP_BOX],
        "index": tf.cast(parsed[CROP_INDEX], tf.int32),
    }
