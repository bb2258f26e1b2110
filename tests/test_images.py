"""Image loading: conversions to RGB uint8 and refusals that name the file."""

import numpy as np
import pytest
from PIL import Image

from kuzushiji_tf.scans.images import ImageError, inspect_image, load_image


def test_grayscale_jpeg_becomes_rgb(tmp_path):
    path = tmp_path / "g.jpg"
    Image.fromarray(np.full((20, 30), 77, np.uint8), "L").save(path, quality=100)
    assert inspect_image(path).mode == "L"
    image = load_image(path)
    assert image.shape == (20, 30, 3) and image.dtype == np.uint8
    assert np.all(np.abs(image.astype(int) - 77) <= 1)


def test_cmyk_jpeg_becomes_rgb(tmp_path):
    path = tmp_path / "c.jpg"
    # Pure cyan ink: C=255, M=Y=K=0 is RGB (0, 255, 255).
    Image.new("CMYK", (16, 12), (255, 0, 0, 0)).save(path, quality=100)
    assert inspect_image(path).mode == "CMYK"
    image = load_image(path)
    assert image.shape == (12, 16, 3)
    assert image[..., 0].mean() < 20 and image[..., 1].mean() > 235 and image[..., 2].mean() > 235


def test_16_bit_image_keeps_its_range(tmp_path):
    path = tmp_path / "deep.png"
    values = np.array([[0, 32896, 65535]], dtype=np.uint16)  # 0, half, full
    Image.fromarray(values).save(path)
    assert inspect_image(path, formats=None).mode.startswith("I")
    image = load_image(path, formats=None)
    assert image.shape == (1, 3, 3)
    assert image[0, :, 0].tolist() == [0, 128, 255]


@pytest.mark.parametrize(
    "case, expected",
    [
        ("missing", "missing"),
        ("empty", "empty"),
        ("garbage", "not a readable image"),
        ("png", r"not a JPEG file \(its content is PNG\)"),
    ],
)
def test_unusable_files_are_refused_with_their_path(tmp_path, case, expected):
    path = tmp_path / "page.jpg"
    if case == "empty":
        path.write_bytes(b"")
    elif case == "garbage":
        path.write_bytes(b"this is not an image at all" * 10)
    elif case == "png":
        Image.new("RGB", (4, 4)).save(path, format="PNG")
    with pytest.raises(ImageError, match=expected) as info:
        inspect_image(path)
    assert str(path) in str(info.value)


def test_truncated_jpeg_fails_on_decode_not_on_header(tmp_path):
    path = tmp_path / "cut.jpg"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (200, 200, 3), np.uint8)).save(path, quality=90)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    assert inspect_image(path).width == 200  # the header is intact
    with pytest.raises(ImageError, match="corrupt image data") as info:
        load_image(path)
    assert str(path) in str(info.value)


def test_decompression_bomb_is_refused_before_decoding(tmp_path):
    path = tmp_path / "bomb.jpg"
    # 1-bit 12000 x 12000 PNG: 144 MP that compress to a few kB.
    Image.new("1", (12000, 12000)).save(path, format="PNG")
    assert path.stat().st_size < 100_000
    with pytest.raises(ImageError, match="decompression bomb") as info:
        inspect_image(path)
    assert "12000x12000" in str(info.value) and str(path) in str(info.value)
    with pytest.raises(ImageError, match="above the limit of 100"):
        inspect_image(path, max_pixels=100, formats=None)
