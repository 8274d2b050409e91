import pytest
import torch

from mnistkit.braille import ANSI, HTML_COLOURS, braille_frame, braille_rows, digit_box
from mnistkit.stacked import tile


def test_braille_rows_of_a_known_small_image():
    image = torch.zeros(8, 4)
    image[0, 0] = image[3, 1] = 1.0  # first cell: top-left dot (1) and bottom-right dot (8)
    image[4, 2] = 1.0  # second row of cells, second cell: its top-left dot
    assert braille_rows(image) == ["\u2881\u2800", "\u2800\u2801"]  # ⢁⠀ / ⠀⠁
    assert braille_rows(torch.ones(4, 2)) == ["\u28ff"]  # all eight dots: ⣿
    assert braille_rows(torch.ones(5, 3)) == ["\u28ff\u2847", "\u2809\u2801"]  # padded to 8x4 with blank dots


def test_braille_rows_threshold_and_shape_errors():
    assert braille_rows(torch.full((4, 2), 0.4)) == ["\u2800"]
    assert braille_rows(torch.full((4, 2), 0.4), threshold=0.3) == ["\u28ff"]
    with pytest.raises(ValueError, match="one \\(H, W\\) image"):
        braille_rows(torch.zeros(2, 2, 4, 2))


def test_digit_box_marks_expected_top_left_and_predicted_bottom_right():
    right = digit_box(torch.zeros(28, 28), expected=3, predicted=3)
    assert len(right) == 9  # border, 7 rows of braille, border
    assert all(len("".join(t for t, _ in line)) == 16 for line in right)
    assert right[1][1] == ("3", "grey") and right[7][1] == ("3", "green")
    wrong = digit_box(torch.zeros(28, 28), expected=3, predicted=5)
    assert wrong[7][1] == ("5", "red")


def test_frame_in_ansi_and_html():
    digits = torch.zeros(2, 4, 1, 28, 28)
    digits[:, :, :, :4, :2] = 1.0  # ink in every digit's top-left braille cell (it is covered by the label)
    digits[:, :, :, 4:8, 2:4] = 1.0  # and in the second row of cells, second cell: drawn
    grids = tile(digits)
    expected = torch.tensor([[1, 2, 3, 4], [5, 6, 7, 8]])
    predicted = torch.tensor([[1, 2, 3, 4], [5, 6, 7, 9]])
    frame = braille_frame(grids, expected, predicted, per_row=2, title="epoch 1")
    plain = frame.plain().splitlines()
    assert plain[0] == "epoch 1"
    assert len(plain) == 2 + 18  # title, legend, two rows of boxes (9 lines each)
    assert plain[3].startswith("│1") and plain[4].startswith("│\u2800\u28ff")  # label row, then the drawn cell
    assert plain[4].count("│") == 8  # two samples side by side, two boxes each
    ansi = str(frame)
    assert f"{ANSI['green']}4" in ansi and f"{ANSI['red']}9" in ansi and f"{ANSI['grey']}5" in ansi
    html = frame._repr_html_()
    # One bordered box per digit, no box-drawing characters (their width never matches a fallback braille font's).
    assert html.startswith('<div class="mnistkit-braille"') and "┌" not in html and "│" not in html
    assert html.count('class="digit"') == 8 and html.count('class="sample"') == 2
    assert f'color:{HTML_COLOURS["red"]}">9<' in html and f'color:{HTML_COLOURS["grey"]}">5<' in html
    assert html.count(HTML_COLOURS["green"]) == 7 + 1  # seven right digits + the legend
    assert "\u2800\u28ff" + "\u2800" * 12 + "<br>" in html  # the drawn cell, whole: labels sit over the box


def test_frame_shows_as_plain_text_where_no_html_is_rendered():
    from IPython.lib.pretty import pretty

    frame = braille_frame(tile(torch.zeros(1, 4, 1, 28, 28)), torch.tensor([[1, 2, 3, 4]]),
                          torch.tensor([[1, 2, 3, 4]]), title="epoch 1")
    assert pretty(frame) == frame.plain() and "\x1b" not in pretty(frame)


def test_frame_refuses_mismatched_lengths():
    with pytest.raises(ValueError, match="same length"):
        braille_frame(torch.zeros(2, 1, 56, 56), torch.zeros(2, 4), torch.zeros(1, 4))
