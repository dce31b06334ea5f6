"""The text layer of a PDF e-invoice as positioned, NFKC-normalised runs of characters, grouped into lines."""

from __future__ import annotations

import re
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import pdfplumber
from pdfplumber.utils.exceptions import MalformedPDFException, PdfminerException

MAX_PAGES = 3  # an invoice is 1-3 pages (销货清单 included); later pages are not read
MAX_CHARS_PER_PAGE = 20_000  # a real invoice page has a few hundred; more is not an invoice
MAX_SECONDS = 20.0

# A gap wider than this many character heights ends a value (the next field, or another column, starts).
FIELD_GAP = 1.5
# A gap wider than this many character heights becomes a space inside a run (校验码 groups, 合 计).
WORD_GAP = 0.25


@dataclass(slots=True)
class Run:
    """Characters drawn next to each other on one baseline, in one text object or across objects."""

    text: str
    x0: float
    top: float
    x1: float
    bottom: float
    size: float
    order: int  # drawing order of the first character (content-stream order)
    spaced: bool = False  # a space character was drawn just before it
    lefts: list[float] = field(default_factory=list)  # per character of text: its left and right edge
    rights: list[float] = field(default_factory=list)

    @property
    def height(self) -> float:
        return max(self.bottom - self.top, 0.1)

    @property
    def middle(self) -> float:
        return (self.top + self.bottom) / 2


@dataclass(slots=True)
class Line:
    """Runs whose vertical middles lie within the first (topmost) run's height, left to right."""

    runs: list[Run] = field(default_factory=list)

    @property
    def top(self) -> float:
        return min(r.top for r in self.runs)

    @property
    def bottom(self) -> float:
        return max(r.bottom for r in self.runs)

    def text(self) -> str:
        """The line's text with ' ' for small gaps and '\\t' for field gaps."""
        return self.located()[0]

    def located(self) -> tuple[str, list[float]]:
        """The line's text and, for each of its characters, its left edge."""
        text, lefts, _ = self.boxed()
        return text, lefts

    def boxed(self) -> tuple[str, list[float], list[float]]:
        """The line's text and, for each of its characters, its left and right edges (a separator gets
        the gap it stands for)."""
        parts: list[str] = []
        lefts: list[float] = []
        rights: list[float] = []
        previous: Run | None = None
        for run in self.runs:
            if previous is not None:
                gap = run.x0 - previous.x1
                height = max(previous.height, run.height)
                sep = "\t" if gap > FIELD_GAP * height else " " if gap > WORD_GAP * height or run.spaced else ""
                parts.append(sep)
                lefts.extend([previous.x1] * len(sep))
                rights.extend([run.x0] * len(sep))
            parts.append(run.text)
            lefts.extend(run.lefts or [run.x0] * len(run.text))
            rights.extend(run.rights or [run.x1] * len(run.text))
            previous = run
        return "".join(parts), lefts, rights

    def segments(self) -> list[tuple[str, float, float]]:
        """The line split at field gaps: (text, x0, x1) each."""
        out: list[tuple[str, float, float]] = []
        group: list[Run] = []
        for run in self.runs:
            if group and run.x0 - group[-1].x1 > FIELD_GAP * max(group[-1].height, run.height):
                out.append(_segment(group))
                group = []
            group.append(run)
        if group:
            out.append(_segment(group))
        return out


def _segment(runs: list[Run]) -> tuple[str, float, float]:
    return Line(runs).text(), runs[0].x0, runs[-1].x1


@dataclass(slots=True)
class Page:
    width: float
    height: float
    runs: list[Run]

    def lines(self) -> list[Line]:
        lines: list[Line] = []
        for run in sorted(self.runs, key=lambda r: (r.top, r.x0)):
            for line in reversed(lines[-6:]):
                seed = line.runs[0]
                if seed.top <= run.middle <= seed.bottom:
                    line.runs.append(run)
                    break
            else:
                lines.append(Line([run]))
        for line in lines:
            line.runs.sort(key=lambda r: r.x0)
        return lines

    def off_page(self) -> int:
        """How many runs lie wholly outside the page: their geometry cannot be used."""
        return sum(1 for r in self.runs if r.x0 > self.width or r.x1 < 0 or r.top > self.height or r.bottom < 0)

    def text(self) -> str:
        return "".join(r.text for r in sorted(self.runs, key=lambda r: r.order))


class TextLayerError(Exception):
    """The PDF cannot be parsed, or breaks a bound."""


def read_pages(path: Path) -> tuple[list[Page], int]:
    """Up to MAX_PAGES pages of positioned runs, and the number of pages the file has."""

    started = time.monotonic()
    pages: list[Page] = []
    try:
        with pdfplumber.open(str(path)) as pdf:
            count = len(pdf.pages)
            for page in pdf.pages[:MAX_PAGES]:
                chars = page.chars
                if len(chars) > MAX_CHARS_PER_PAGE:
                    raise TextLayerError(f"page {page.page_number} has {len(chars)} characters; an invoice has "
                                         f"at most a few thousand")
                pages.append(Page(float(page.width), float(page.height), _runs(chars)))
                if time.monotonic() - started > MAX_SECONDS:
                    raise TextLayerError(f"reading the text took longer than {MAX_SECONDS:.0f} s")
    # pdfplumber wraps every pdfminer failure (syntax, encryption, broken streams) in PdfminerException.
    except (PdfminerException, MalformedPDFException, ValueError, TypeError, KeyError, IndexError) as exc:
        raise TextLayerError(f"not a readable PDF: {type(exc).__name__}: {str(exc)[:200]}") from None
    return pages, count


_SPACE = re.compile(r"\s")
# Kangxi radicals (⼦ U+2F26 …), CJK radicals and compatibility ideographs: some producers draw labels with
# them. Only these are NFKC-normalised: NFKC of the whole text would turn the full-width brackets of
# names such as （北京） into ASCII ones, and names are stored as printed.
_RADICALS = re.compile("[\u2e80-\u2fdf\uf900-\ufaff]")


def _normalise(text: str) -> str:
    return _RADICALS.sub(lambda m: unicodedata.normalize("NFKC", m.group()), text)


def _runs(chars: list[dict[str, object]]) -> list[Run]:
    """Characters into runs, in drawing order: a run ends where the next character is not just to the right
    on the same baseline, or after a space."""
    runs: list[Run] = []
    current: Run | None = None
    last_x0 = 0.0
    spaced = False
    for order, char in enumerate(chars):
        text = _normalise(str(char["text"]))
        x0, x1 = float(char["x0"]), float(char["x1"])  # type: ignore[arg-type]
        top, bottom = float(char["top"]), float(char["bottom"])  # type: ignore[arg-type]
        size = float(char.get("size") or (bottom - top))  # type: ignore[arg-type]
        if not text or _SPACE.fullmatch(text):
            current = None
            spaced = True
            continue
        if current is not None:
            height = max(current.height, bottom - top, 0.1)
            same_line = abs((top + bottom) / 2 - current.middle) < 0.3 * height
            # Squeezed glyphs overlap their neighbours (OFD conversions): any start right of the previous
            # character's start continues the run.
            adjacent = x0 > last_x0 and x0 - current.x1 < WORD_GAP * height
            last_x0 = x0
            if same_line and adjacent:
                spaced = False
                current.text += text
                current.lefts += [x0] * len(text)
                current.rights += [x1] * len(text)
                current.x1 = max(current.x1, x1)
                current.top, current.bottom = min(current.top, top), max(current.bottom, bottom)
                continue
        current = Run(text, x0, top, x1, bottom, size, order, spaced, [x0] * len(text), [x1] * len(text))
        last_x0 = x0
        spaced = False
        runs.append(current)
    return runs
