"""The seed's braille display of predictions: digits drawn with Unicode braille characters.

A braille character is a 2-wide, 4-tall cell of dots, so a 28x28 digit becomes 7 lines of 14 characters. Each
digit gets a box; the expected digit is written over the box's top-left character (grey) and the predicted one
over its bottom-right character (green when right, red when wrong). A sample of four digits is a 2x2 group of
boxes. `BrailleFrame` prints with ANSI colours in a terminal (`str(frame)`), shows as HTML boxes in a notebook
(`display(frame)`), and as plain text in papermill and nbval logs.
"""
from __future__ import annotations

import html
from dataclasses import dataclass

import torch

# Bit of each dot in a braille cell, indexed [row][column] (Unicode braille patterns, U+2800 + bits).
DOT_BITS = ((0x01, 0x08), (0x02, 0x10), (0x04, 0x20), (0x40, 0x80))
BLANK = "\u2800"
COLOURS = {"expected": "grey", "right": "green", "wrong": "red"}
ANSI = {"grey": "\x1b[90m", "green": "\x1b[32m", "red": "\x1b[31m"}
ANSI_RESET = "\x1b[0m"
HTML_COLOURS = {"grey": "#888888", "green": "#1a9e1a", "red": "#d62728"}

Segment = tuple[str, "str | None"]  # (text, colour name or None)
Line = list[Segment]


def braille_rows(image: torch.Tensor, threshold: float = 0.5) -> list[str]:
    """An (H, W) image in [0, 1] -> ceil(H/4) strings of ceil(W/2) braille characters (a dot per pixel above
    `threshold`)."""
    image = torch.as_tensor(image).detach().float().cpu()
    if image.ndim == 3:
        image = image[0]
    if image.ndim != 2:
        raise ValueError(f"braille_rows needs one (H, W) image, got shape {tuple(image.shape)}")
    h, w = image.shape
    ink = torch.zeros((h + 3) // 4 * 4, (w + 1) // 2 * 2, dtype=torch.bool)
    ink[:h, :w] = image > threshold
    rows = []
    for top in range(0, ink.shape[0], 4):
        chars = []
        for left in range(0, ink.shape[1], 2):
            cell = ink[top:top + 4, left:left + 2]
            bits = sum(DOT_BITS[r][c] for r in range(4) for c in range(2) if cell[r, c])
            chars.append(chr(0x2800 + bits))
        rows.append("".join(chars))
    return rows


def digit_box(image: torch.Tensor, expected: int, predicted: int, threshold: float = 0.5) -> list[Line]:
    """One digit in a box: braille rows, the expected digit over the top-left character, the predicted one over
    the bottom-right character."""
    return _box(braille_rows(image, threshold), expected, predicted)


def _box(rows: list[str], expected: int, predicted: int) -> list[Line]:
    width = len(rows[0])
    verdict = "right" if predicted == expected else "wrong"
    lines: list[Line] = [[("┌" + "─" * width + "┐", None)]]
    for i, row in enumerate(rows):
        if i == 0:
            line = [("│", None), (str(expected), COLOURS["expected"]), (row[1:] + "│", None)]
        elif i == len(rows) - 1:
            line = [("│" + row[:-1], None), (str(predicted), COLOURS[verdict]), ("│", None)]
        else:
            line = [("│" + row + "│", None)]
        lines.append(line)
    lines.append([("└" + "─" * width + "┘", None)])
    return lines


def beside(blocks: list[list[Line]], gap: str) -> list[Line]:
    """Join blocks of equal height side by side, `gap` between them."""
    joined = []
    for parts in zip(*blocks):
        line: Line = []
        for i, part in enumerate(parts):
            if i:
                line.append((gap, None))
            line.extend(part)
        joined.append(line)
    return joined


@dataclass
class Sample:
    """One 2x2 grid as the display draws it: braille rows of its four digits, expected and predicted digits."""
    rows: list[list[str]]
    expected: list[int]
    predicted: list[int]


def _sample(grid: torch.Tensor, expected, predicted, threshold: float) -> Sample:
    from .stacked import untile
    digits = untile(torch.as_tensor(grid).detach().cpu().reshape(1, 1, *grid.shape[-2:]))[0]
    return Sample([braille_rows(digits[k], threshold) for k in range(4)], [int(e) for e in expected[:4]],
                  [int(p) for p in predicted[:4]])


LEGEND: Line = [("expected (top-left)", COLOURS["expected"]), (" | ", None), ("predicted right", COLOURS["right"]),
                (" / ", None), ("predicted wrong", COLOURS["wrong"]), (" (bottom-right)", None)]

# The HTML view draws no box characters. A braille glyph comes from whichever installed font has one, and its
# width rarely matches the monospace font's box-drawing characters (so text boxes drift apart in a browser), and
# JupyterLab wraps wide <pre> output. Instead each digit is its own bordered box (its rows all share the braille
# glyph's width), the labels sit in its corners, and the samples flow onto as many lines as the window needs.
# Inline styles and <br> rows, so a viewer that drops <style> elements still shows the digits.
HTML_STYLE = {
    "mnistkit-braille": "font-family:'DejaVu Sans Mono',Menlo,Consolas,monospace;font-size:11px;line-height:1.1",
    "samples": "display:flex;flex-wrap:wrap;gap:10px 18px;margin-top:4px",
    "sample": "display:grid;grid-template-columns:auto auto;gap:3px",
    "digit": "position:relative;border:1px solid #999;padding:1px 2px;white-space:nowrap",
    "expected": "position:absolute;top:0;left:0;font-weight:bold;background:#fffd;padding:0 1px;line-height:1",
    "predicted": "position:absolute;bottom:0;right:0;font-weight:bold;background:#fffd;padding:0 1px;line-height:1",
}


@dataclass
class BrailleFrame:
    """Samples of the braille display; `str()` gives ANSI colours for a terminal, `_repr_html_` CSS boxes for a
    notebook, `plain()` the text without colours (what a log or `text/plain` shows)."""
    samples: list[Sample]
    title: str = ""
    per_row: int = 5

    @property
    def lines(self) -> list[Line]:
        """The text layout: a legend line, then `per_row` samples to a row, each a 2x2 group of boxes."""
        blocks = []
        for s in self.samples:
            boxes = [_box(rows, e, p) for rows, e, p in zip(s.rows, s.expected, s.predicted)]
            blocks.append(beside(boxes[:2], " ") + beside(boxes[2:], " "))
        lines: list[Line] = [list(LEGEND)]
        for start in range(0, len(blocks), self.per_row):
            lines.extend(beside(blocks[start:start + self.per_row], "   "))
        return lines

    def ansi(self) -> str:
        body = ["".join(f"{ANSI[c]}{t}{ANSI_RESET}" if c else t for t, c in line) for line in self.lines]
        return "\n".join(([self.title] if self.title else []) + body)

    def plain(self) -> str:
        body = ["".join(t for t, _ in line) for line in self.lines]
        return "\n".join(([self.title] if self.title else []) + body)

    def html(self) -> str:
        def div(cls, content):
            return f'<div class="{cls}" style="{HTML_STYLE[cls]}">{content}</div>'

        def label(cls, digit, colour):
            return f'<span class="{cls}" style="{HTML_STYLE[cls]};color:{HTML_COLOURS[colour]}">{digit}</span>'

        def digit(rows, expected, predicted):
            verdict = "right" if predicted == expected else "wrong"
            return div("digit", "<br>".join(rows) + label("expected", expected, COLOURS["expected"])
                       + label("predicted", predicted, COLOURS[verdict]))

        samples = "".join(div("sample", "".join(digit(*d) for d in zip(s.rows, s.expected, s.predicted)))
                          for s in self.samples)
        legend = "".join(f'<span style="color:{HTML_COLOURS[c]}">{html.escape(t)}</span>' if c else html.escape(t)
                         for t, c in LEGEND)
        title = f"<b>{html.escape(self.title)}</b><br>" if self.title else ""
        return div("mnistkit-braille", title + legend + div("samples", samples))

    def _repr_html_(self) -> str:
        return self.html()

    def _repr_pretty_(self, printer, cycle) -> None:  # text/plain: what papermill and nbval logs show
        printer.text(self.plain())

    def __str__(self) -> str:
        return self.ansi()



def braille_frame(grids: torch.Tensor, expected: torch.Tensor, predicted: torch.Tensor, *, per_row: int = 5,
                  title: str = "", threshold: float = 0.5) -> BrailleFrame:
    """Samples (grids (n, 1, 56, 56) in [0, 1], expected and predicted (n, 4)) drawn `per_row` to a row (in the
    text views; the HTML view fits the window), with a legend line."""
    if not (len(grids) == len(expected) == len(predicted)):
        raise ValueError(f"{len(grids)} grids, {len(expected)} expected and {len(predicted)} predicted sequences: "
                         "the three must have the same length")
    return BrailleFrame([_sample(g, e, p, threshold) for g, e, p in zip(grids, expected, predicted)], title, per_row)
