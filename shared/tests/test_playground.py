"""Chapter 12's playground: MNIST's preprocessing, the changed test digits, the saved readers and the words."""
import base64
import io
import re

import numpy as np
import pytest
import torch

from mnistkit import playground as pg


def blob(top=30, left=150, h=90, w=50, side=280):
    """A bright rectangle somewhere on a big black canvas: a drawing far from MNIST's layout."""
    canvas = torch.zeros(side, side)
    canvas[top:top + h, left:left + w] = 1.0
    return canvas


def test_mnist_style_crops_scales_the_longer_side_to_20_and_centres_the_mass():
    steps = pg.mnist_style(blob())
    assert list(steps) == ["raw", "cropped", "scaled", "centred"]
    assert tuple(steps["cropped"].shape) == (90, 50) and max(steps["scaled"].shape) == 20
    centred = steps["centred"]
    assert tuple(centred.shape) == (28, 28)
    ys, xs = torch.arange(28.0), torch.arange(28.0)
    cy = float((centred.sum(1) * ys).sum() / centred.sum())
    cx = float((centred.sum(0) * xs).sum() / centred.sum())
    assert abs(cy - 13.5) <= 0.5 and abs(cx - 13.5) <= 0.5


def test_uint8_and_a_leading_channel_are_read_and_bad_drawings_named():
    image = (blob(side=56, top=5, left=5, h=20, w=10).numpy() * 255).astype(np.uint8)[None]
    assert pg.as_image(image).max() == 1.0 and pg.as_image(image).shape == (56, 56)
    with pytest.raises(ValueError, match=r"the drawing is blank: no pixel above 0.05 \(draw a digit first\)"):
        pg.mnist_style(np.zeros((28, 28)))
    with pytest.raises(ValueError, match=r"drawing of shape \(3, 28, 28\) is not allowed: expected one image"):
        pg.as_image(np.zeros((3, 28, 28)))


def test_without_the_steps_the_drawing_is_only_shrunk():
    shrunk = pg.prepare(blob(), preprocess=False)[0, 0]
    assert tuple(shrunk.shape) == (28, 28)
    rows = (shrunk > pg.INK).any(1).nonzero().flatten()
    assert rows[0] <= 4  # still near the top, where it was drawn: nothing centred it


def test_shift_fills_black_without_wrapping_and_clipping_is_counted():
    x = torch.zeros(2, 1, 28, 28)
    x[0, 0, 13, 13] = 1.0
    x[1, 0, 25, 25] = 1.0  # near the corner: moved 8 px it leaves the field
    moved = pg.shift(x, 8, 8)
    assert moved[0, 0, 21, 21] == 1.0 and moved[1].sum() == 0 and pg.shift(x, -2, 0)[0, 0, 11, 13] == 1.0
    assert pg.clipped(x, 8, 8) == 50.0
    assert pg.ink_lost(x, 8, 8) == (50.0, 50.0)  # one image loses all its ink, the other none


def test_thinning_removes_a_pixel_of_stroke_but_not_from_the_border():
    x = torch.zeros(1, 1, 28, 28)
    x[..., 10:13, 5:20] = 1.0  # a stroke 3 px thick
    thinned = pg.thin(x)
    assert thinned.sum() < x.sum() and thinned[..., 10:12, 5:19].min() == 1.0
    assert pg.thin(torch.ones(1, 1, 28, 28)).min() == 1.0


def test_a_grid_is_four_prepared_quadrants_and_a_blank_one_stays_blank():
    quadrants = pg.split_quadrants(blob())
    quadrants[3] = torch.zeros_like(quadrants[3])
    grid = pg.prepare_grid(quadrants)
    assert tuple(grid.shape) == (1, 1, 56, 56) and grid[0, 0, 28:, 28:].sum() == 0
    with pytest.raises(ValueError, match="3 quadrants are not allowed: expected 4"):
        pg.prepare_grid(quadrants[:3])


def test_missing_checkpoints_name_the_chapter_that_saves_them(tmp_path):
    readers, missing = pg.saved_readers(tmp_path)
    assert readers == {} and len(missing) == len(pg.SAVED)
    (tmp_path / "m.json").write_text('{"runs": [{"name": "vit", "seed": 1, "profile": "full"}]}')
    assert pg.saved_run(tmp_path / "m.json", "vit") == "seed 1, full profile" and pg.saved_run(tmp_path / "m.json", "x") == ""
    assert any("08_vit/vit.pt" in line and "run chapter 08 in full" in line for line in missing)
    assert pg.grid_reader(tmp_path) is None


def test_robustness_scores_every_reader_on_every_variant():
    class Constant:  # reads every image as a 7
        name, chapter, attention = "sevens", "--", None

        @staticmethod
        def read(images):
            return torch.nn.functional.one_hot(torch.full((len(images),), 7), 10).float()

    labels = torch.tensor([7, 7, 1, 2])
    scores = pg.robustness({"sevens": Constant()}, torch.rand(4, 1, 28, 28), labels, batch=3)
    assert scores == {"sevens": {name: 50.0 for name in pg.VARIANTS}}


def test_the_words_give_image_counts_and_no_verdict():
    row = {"as in MNIST": 99.5, "re-centred": 99.4, "moved 4 px": 97.0, "moved 4 px, re-centred": 99.3,
           "moved 8 px": 40.0, "moved 8 px, re-centred": 85.0, "thinned": 90.0}
    text = pg.robustness_text({"ViT": row}, n=10_000, lost={4: (61.25, 2.8), 8: (100.0, 27.6)})
    assert "Moved 4 px: -2.50 pp (-250 of 10,000 images)" in text
    assert "left. Moved 4 px, 61.2% of the test digits lose ink, 2.8% of their ink on average; moved 8 px, 100.0%" in text
    assert "99.30% (4 px) and 85.00% (8 px), against 99.40%" in text
    assert not re.search(r"beyond noise|better|significant", text)


def test_a_canvas_png_is_read_back_as_white_ink_on_black():
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray((blob().numpy() * 255).astype(np.uint8)).convert("RGBA").save(buffer, format="PNG")
    drawing = pg.decode_png("data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode())
    assert drawing.shape == (280, 280) and drawing.max() == 1.0 and drawing[0, 0] == 0.0
    with pytest.raises(ValueError, match="is not allowed: expected a PNG data URL"):
        pg.decode_png("data:image/jpeg;base64,AAAA")


def test_the_sketchpad_widget_syncs_what_the_page_needs():
    from mnistkit.sketchpad import Sketchpad

    pad = Sketchpad()
    assert (pad.size, pad.grid, pad.image, pad.reads) == (280, False, "", 0)
    assert all(text in pad._esm for text in ("\"read it\", \"read\"", "\"clear\", \"clear\"", "mnistkit-${name}", "toDataURL"))


def test_the_exercises_moves_thickening_and_their_words():
    x = torch.zeros(1, 1, 28, 28)
    x[..., 10:12, 5:20] = 1.0
    assert pg.thicken(x).sum() > x.sum() and list(pg.moves(3)) == ["0 px", "1 px", "2 px", "3 px"]
    scores = {"ViT": {"0 px": 99.5, "1 px": 99.4, "2 px": 98.2, "3 px": 90.0},
              "MLP": {"0 px": 98.0, "1 px": 97.9, "2 px": 97.5, "3 px": 97.1}}
    text = pg.breaking_point_text(scores)
    assert "**ViT**: moved 2 px, it falls 1.30 pp below its 99.50%" in text
    assert "**MLP**: no move up to 3 px costs more than 1 pp" in text
    strokes = pg.strokes_text({"ViT": {"as in MNIST": 99.5, "thinned": 90.0, "thickened": 99.0}}, n=10_000)
    assert "thinned -9.50 pp (-950 images), thickened -0.50 pp (-50 images)" in strokes


def test_without_saved_models_the_chapter_still_runs():
    assert "No saved model was found" in pg.robustness_table({}, 100) and pg.robustness_text({}, 100, {}) == ""
    fig = pg.answers_figure(torch.zeros(1, 1, 28, 28), {})
    assert len(fig.axes) == 1


def test_the_course_runs_the_playground_after_every_chapter_whose_model_it_reads():
    from mnistkit.course import READS
    from mnistkit.playground import SAVED

    assert set(SAVED) | {"10_stacked_seq2seq"} <= set(READS["12_playground"])


def test_an_answer_is_green_only_when_it_is_right():
    import matplotlib

    matplotlib.use("Agg")
    sure_one = pg.Reader("fake", "00", lambda images: torch.nn.functional.one_hot(torch.tensor([1]), 10).float())
    colours = {}
    for truth in (None, 1, 7):
        ax = pg.answers_figure(torch.zeros(1, 1, 28, 28), {"fake": sure_one}, truth=truth).axes[-1]
        colours[truth] = matplotlib.colors.to_hex(ax.patches[1].get_facecolor())
        assert ("(right)" in ax.get_title()) == (truth == 1) and ("(wrong: it is 7)" in ax.get_title()) == (truth == 7)
    assert colours[1] == matplotlib.colors.to_hex("C2") and colours[7] == matplotlib.colors.to_hex("C3")
    assert colours[None] == matplotlib.colors.to_hex("C1")  # a drawing: no truth, no verdict colour
