"""The ink statistics that check the generator's stroke and ink ranges against unlabelled real scans."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from kuzushiji_tf.data.box_ops import INFERENCE_CROP_FACTOR  # 1.2: the surround test's geometry assumes it
from kuzushiji_tf.synthetic import ink_statistics as statistics


def box_figures(gray, box):
    return statistics.box_figures(gray, box, INFERENCE_CROP_FACTOR)


def ink_statistics(pages):
    return statistics.ink_statistics(pages, INFERENCE_CROP_FACTOR)


def _page(stroke: int, ink: int = 40, paper: int = 220) -> np.ndarray:
    """A grey page with one 'character' of two crossing strokes, `stroke` pixels wide, in box (20, 20, 80, 120)."""
    page = np.full((160, 120), paper, np.uint8)
    cv2.line(page, (50, 25), (50, 115), ink, stroke)
    cv2.line(page, (25, 70), (75, 70), ink, stroke)
    return page


def test_thicker_strokes_give_more_ink_and_a_wider_stroke():
    box = (20, 20, 80, 120)
    thin, thick = box_figures(_page(3), box), box_figures(_page(9), box)
    assert thin[0] < thick[0]  # ink fraction
    assert thin[1] < thick[1]  # stroke / height
    # 2 x the ridge's distance is about the drawn width; the box is 100 px high
    assert thick[1] == pytest.approx(9 / 100, abs=0.025)
    assert thin[2] == pytest.approx(220 - 40, abs=1.0)  # flat paper and ink: the exact grey difference


def test_medians_over_pages_and_unusable_boxes_left_out():
    pages = [
        (_page(3), np.array([[20, 20, 80, 120], [0, 0, 5, 5]], np.float32)),  # a 25-px box is too small
        (cv2.cvtColor(_page(5), cv2.COLOR_GRAY2RGB), np.array([[20, 20, 80, 120]], np.float32)),
        (_page(7), np.array([[90, 130, 118, 158]], np.float32)),
    ]  # paper only: no ink in the box
    stats = ink_statistics(pages)
    assert stats.boxes == 2
    assert stats.stroke_to_height == pytest.approx(
        np.median([box_figures(_page(s), (20, 20, 80, 120))[1] for s in (3, 5)])
    )
    assert np.isnan(ink_statistics([]).ink_fraction)


def test_tool_names_a_missing_folder(tmp_path, capsys):
    from kuzushiji_tf.cli import ink_statistics as tool

    assert tool.main(["--detector", str(tmp_path), "--synthetic", str(tmp_path / "nowhere")]) == 2
    assert "nowhere/train_images: missing" in capsys.readouterr().err
    assert tool.main(["--detector", str(tmp_path / "det"), "--real", str(tmp_path)]) == 2
    assert "no JPEG, PNG or TIFF images" in capsys.readouterr().err


def test_surround_ink_counts_what_the_crop_holds_beside_the_box():
    box = (20, 20, 80, 120)  # the crop: a 120-px square around it, x -10..110 (the page starts at 0), y 10..130
    alone = box_figures(_page(5), box)
    page = _page(5)
    cv2.rectangle(page, (20, 122), (80, 128), 40, -1)  # a neighbour's stroke 2-8 px below the box
    beside = box_figures(page, box)
    assert alone[3] == 0.0
    assert beside[3] == pytest.approx(61 * 7 / (110 * 120 - 60 * 100))
    assert beside[:3] == alone[:3]  # the box's own figures do not see it
