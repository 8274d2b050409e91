"""The seed's braille display of predictions: digits drawn with Unicode braille characters.

A braille character is a 2-wide, 4-tall cell of dots, so a 28x28 digit becomes 7 lines of 14 characters. Each
digit gets a box; the expected digit is written over the box's top-left character (grey) and the predicted one
over its bottom-right character (green when right, red when wrong). A sample of four digits is a 2x2 group of
boxes. `BrailleFrame` prints with ANSI colours in a terminal (`str(frame)`) and shows with HTML colours in a
notebook (`display(frame)`).
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
    rows = braille_rows(image, threshold)
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


def sample_block(grid: torch.Tensor, expected, predicted, threshold: float = 0.5) -> list[Line]:
    """A 2x2 sample ((1, 56, 56) grid, four expected and four predicted digits) as two rows of two boxes."""
    from .stacked import untile
    digits = untile(torch.as_tensor(grid).detach().cpu().reshape(1, 1, *grid.shape[-2:]))[0]
    boxes = [digit_box(digits[k], int(expected[k]), int(predicted[k]), threshold) for k in range(4)]
    return beside(boxes[:2], " ") + beside(boxes[2:], " ")


@dataclass
class BrailleFrame:
    """Lines of coloured text segments; `str()` gives ANSI colours, `_repr_html_` gives HTML colours."""
    lines: list[Line]
    title: str = ""

    def ansi(self) -> str:
        body = ["".join(f"{ANSI[c]}{t}{ANSI_RESET}" if c else t for t, c in line) for line in self.lines]
        return "\n".join(([self.title] if self.title else []) + body)

    def plain(self) -> str:
        body = ["".join(t for t, _ in line) for line in self.lines]
        return "\n".join(([self.title] if self.title else []) + body)

    def html(self) -> str:
        def segment(text, colour):
            text = html.escape(text)
            return f'<span style="color:{HTML_COLOURS[colour]};font-weight:bold">{text}</span>' if colour else text
        body = "\n".join("".join(segment(t, c) for t, c in line) for line in self.lines)
        title = f"<b>{html.escape(self.title)}</b>\n" if self.title else ""
        return ('<pre style="font-family:\'DejaVu Sans Mono\',Menlo,Consolas,monospace;line-height:1.15;'
                f'font-size:11px">{title}{body}</pre>')

    def _repr_html_(self) -> str:
        return self.html()

    def __str__(self) -> str:
        return self.ansi()


def braille_frame(grids: torch.Tensor, expected: torch.Tensor, predicted: torch.Tensor, *, per_row: int = 5,
                  title: str = "", threshold: float = 0.5) -> BrailleFrame:
    """Samples (grids (n, 1, 56, 56) in [0, 1], expected and predicted (n, 4)) drawn `per_row` to a row, with a
    legend line."""
    if not (len(grids) == len(expected) == len(predicted)):
        raise ValueError(f"{len(grids)} grids, {len(expected)} expected and {len(predicted)} predicted sequences: "
                         "the three must have the same length")
    samples = [sample_block(g, e, p, threshold) for g, e, p in zip(grids, expected, predicted)]
    lines: list[Line] = [[("expected (top-left)", COLOURS["expected"]), (" | ", None),
                          ("predicted right", COLOURS["right"]), (" / ", None),
                          ("predicted wrong", COLOURS["wrong"]), (" (bottom-right)", None)]]
    for start in range(0, len(samples), per_row):
        lines.extend(beside(samples[start:start + per_row], "   "))
    return BrailleFrame(lines, title)
