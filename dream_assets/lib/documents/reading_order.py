"""Reading order of positioned words, shared by the `layout` and `ocr` parsers.

Words are grouped into lines; a gutter between two columns is a band between 30% and 70% of the
page width that (almost) no word covers; a line that has a word across the gutter is a full-width
line (a title, a wide paragraph) and ends a band; within each band the left column's lines are
read before the right column's, each top to bottom. Lines of the two columns at the same height
are split at the gutter, never merged.
"""

from __future__ import annotations

from dataclasses import dataclass

LINE_TOLERANCE = 3.0  # points: words whose tops differ by less are on one line
MIN_GUTTER = 9.0  # points: the narrowest empty band between two columns
GUTTER_CROSSINGS = 0.02  # share of the words that may cross a gutter (a title over both columns)


@dataclass
class Line:
    """One line of a page: its top, its span on x, its text (units of the words: points or pixels)."""

    top: float
    x0: float
    x1: float
    text: str


def _line(words: list[dict]) -> Line:
    words = sorted(words, key=lambda w: w["x0"])
    return Line(min(w["top"] for w in words), words[0]["x0"], max(w["x1"] for w in words), _join(words))


def _join(words: list[dict]) -> str:
    return " ".join(word["text"] for word in words)


def group_lines(words: list[dict], tolerance: float = LINE_TOLERANCE) -> list[list[dict]]:
    """Words (dicts with `x0`, `x1`, `top`, `text`) grouped into lines: in order of their top, a
    word within `tolerance` of the previous word's top is on its line (a slightly skewed line
    stays one)."""
    lines: list[list[dict]] = []
    for word in sorted(words, key=lambda w: (w["top"], w["x0"])):
        if lines and abs(lines[-1][-1]["top"] - word["top"]) < tolerance:
            lines[-1].append(word)
        else:
            lines.append([word])
    return lines


def gutter(words: list[dict], width: float, min_gutter: float = MIN_GUTTER) -> tuple[float, float] | None:
    """The widest band of x between 30% and 70% of the page width crossed by at most
    `GUTTER_CROSSINGS` of the words, at least `min_gutter` wide, with a fifth of the words wholly
    on each side; else None (one column)."""
    if len(words) < 20:
        return None
    low, high, allowed = int(0.3 * width), int(0.7 * width), max(1, int(GUTTER_CROSSINGS * len(words)))
    crossing = [sum(w["x0"] <= x + 1 and w["x1"] >= x for w in words) for x in range(low, high)]
    best: tuple[float, float] | None = None
    start = None
    for offset, count in enumerate([*crossing, allowed + 1]):
        if count <= allowed and start is None:
            start = offset
        elif count > allowed and start is not None:
            band = (float(low + start), float(low + offset))
            if band[1] - band[0] >= min_gutter and (best is None or band[1] - band[0] > best[1] - best[0]):
                best = band
            start = None
    if best is None:
        return None
    left = sum(w["x1"] <= best[0] for w in words)
    right = sum(w["x0"] >= best[1] for w in words)
    return best if min(left, right) >= len(words) / 5 else None


def read_words(
    words: list[dict], width: float, tolerance: float = LINE_TOLERANCE, min_gutter: float = MIN_GUTTER
) -> list[Line]:
    """The lines of a page's words in reading order (module docstring)."""
    columns = gutter(words, width, min_gutter)
    grouped = group_lines(words, tolerance)
    if columns is None:
        return [_line(line) for line in grouped]
    ordered: list[Line] = []
    left: list[Line] = []
    right: list[Line] = []
    for line in grouped:
        middle = (columns[0] + columns[1]) / 2
        if any(w["x0"] < middle < w["x1"] for w in line):  # a word over the gutter's middle: ends the band
            ordered += left + right + [_line(line)]
            left, right = [], []
            continue
        left += [_line(part) for part in [[w for w in line if w["x1"] <= middle]] if part]
        right += [_line(part) for part in [[w for w in line if w["x0"] >= middle]] if part]
    return ordered + left + right
