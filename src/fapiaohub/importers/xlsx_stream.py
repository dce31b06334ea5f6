"""A streaming xlsx row reader: constant memory whatever the sheet's size, near calamine's speed.

python-calamine is the fastest reader but holds a whole sheet (about 1.3× its XML); openpyxl's
read-only mode streams but builds an object per cell, and so does lxml's iterparse (about 16
million nodes for a 200,000-row export). This reader scans the worksheet XML as text, in chunks
cut at row starts, with one regular expression for the shapes spreadsheet writers use for rows
and cells (`<row r="2">`, `<c r="B2" s="1" t="s"><v>7</v></c>`, inline strings, cached formula
values). Whatever it does not recognise — a cell of another shape, a comment, CDATA, a namespace
prefix, a text encoding other than UTF-8 — hands the rest of the sheet to lxml's pull parser, so
every workbook reads the same either way, only slower. It reads what the importers need: cell
values, shared strings, and which number formats are dates.

XML safety: no DTD is accepted (a worksheet has none), no entity but the five predefined ones and
character references is expanded, and no single row may exceed MAX_ROW_CHARS.
"""

from __future__ import annotations

import codecs
import functools
import re
import zipfile
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from pathlib import PurePosixPath
from typing import Any

from lxml import etree

MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
MAIN_URI = MAIN[1:-1]
REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
PKG_REL = "{http://schemas.openxmlformats.org/package/2006/relationships}"
BUILTIN_DATE_FORMATS = {14, 15, 16, 17, 18, 19, 20, 21, 22, 45, 46, 47}
_DATE_CODE = re.compile(r"[ymdhs]", re.IGNORECASE)
_QUOTED = re.compile(r'"[^"]*"|\[[^\]]*\]')
EXCEL_EPOCH = datetime(1899, 12, 30)
PARSER = {"resolve_entities": False, "no_network": True, "huge_tree": True, "load_dtd": False}
READ_SIZE = 1 << 20  # bytes inflated per step: about 500 rows of a bureau export
MAX_ROW_CHARS = 32 * 1024**2  # a row (or the part before <sheetData>) larger than this is refused

# The rows and cells of a chunk as tokens, in document order. The groups of a token:
#   1    a cell's column letters, then one of
#   2      the text of an inline string (its style, if any, changes nothing)
#   3, 4   a number's style index (empty: none) and its <v> text
#   5      the <v> of a shared string (its index in the table)
#   6-8    any other cell's attributes after r=, its <v> text, its inline text
#          (an empty cell has none of 2-8)
#   9    a row's start tag (without the "<")
#   10   anything else: a cell or row of another shape (attributes in another order, rich text,
#        a comment …), which hands the sheet to lxml
# Whitespace before a tag belongs to its token (POI, which writes the bureau's exports, puts a
# newline before and after each row's start tag); row ends and other whitespace match with every
# group empty. The common cell shapes come first and capture only what they need: every captured
# group costs a new string. Every cell of a bureau export has a style (s="2"), so the styled shapes
# are the common ones.
_TOKEN = re.compile(
    r'\s*<(?:c r="([A-Z]{1,3})[0-9]*"(?:'
    r'(?: s="[0-9]+")?(?: t="inlineStr")?><is><t(?: xml:space="preserve")?>([^<]*)</t></is></c>'
    r'|(?: s="([0-9]+)")?(?: t="n")?><v>([^<]*)</v></c>'
    r'|(?: s="[0-9]+")? t="s"><v>([0-9]+)</v></c>'
    r'|(?: s="[0-9]+")?(?: t="inlineStr")?(?:/>|></c>)'
    r'|([^>]*?)(?:/>'
    r'|>(?:<f\b[^>]*?(?:/>|>[^<]*</f>))?<v>([^<]*)</v></c>'
    r'|><is><t(?: xml:space="preserve")?>([^<]*)</t></is></c>'
    r'|></c>))'
    r'|(row\b[^>]*)>'
    r'|/row>)'
    r'|\s+'
    r'|(<[^>]*>?|[^<]+)'
)
# The cells of the bureau's exports (Apache POI's layout): every cell styled, a string inline (its
# <t> marked xml:space="preserve" when the text has spaces at an end), a number typed t="n", a
# blank cell empty. Groups: column letters, style, inline text, number text.
# Matching only this shape, without optional parts, takes half the time of _TOKEN; a row with any
# other cell is read by _TOKEN.
_STYLED_CELL = re.compile(
    r'<c r="([A-Z]{1,3})[0-9]*" s="([0-9]+)"'
    r'(?: t="inlineStr"><is><t(?: xml:space="preserve")?>([^<]*)</t></is>| t="n"><v>([^<]*)</v>|>)</c>'
)
_ROW_HEAD = re.compile(r"\s*<row\b([^<>]*)>\s*")  # a row's start tag (its attributes) before its first cell
_ROW_NUMBER = re.compile(r'\br="([0-9]+)"')
_ATTRIBUTE = re.compile(r'([\w:.-]+)\s*=\s*(?:"([^"]*)"|\'([^\']*)\')')
_SHEET_DATA = re.compile(r"<(\w+:)?sheetData\b[^>]*?(/?)>")
_ROOT = re.compile(r"<(?:\w+:)?worksheet\b[^>]*>")
_DECLARED_ENCODING = re.compile(r'<\?xml[^>]*encoding\s*=\s*["\']([^"\']+)["\']')
_SHARED_ITEM = re.compile(r'<si><t(?: xml:space="preserve")?>([^<]*)</t></si>|<si><t/></si>')
_REFERENCE = re.compile(r"&([^;&<]{0,12})(;?)")
_PREDEFINED = {"amp": "&", "lt": "<", "gt": ">", "quot": '"', "apos": "'"}


class SheetError(ValueError):
    """The worksheet XML is malformed, truncated, or uses something this reader refuses."""


def _letters_index(letters: str) -> int:
    number = 0
    for char in letters:
        number = number * 26 + ord(char.upper()) - 64
    return number - 1


# every column reference of a sheet (A … XFD) resolved once, not per cell
COLUMNS = {letters: _letters_index(letters) for letters in (
    [chr(65 + a) for a in range(26)]
    + [chr(65 + a) + chr(65 + b) for a in range(26) for b in range(26)]
    + [chr(65 + a) + chr(65 + b) + chr(65 + c) for a in range(26) for b in range(26) for c in range(26)]
)}


LETTERS = sorted(COLUMNS, key=COLUMNS.__getitem__)  # A, B, … Z, AA, …: the letters of each column index


def _column(reference: str) -> int:
    """0-based column of a cell reference such as "AB12"."""
    letters = reference.rstrip("0123456789").upper()
    index = COLUMNS.get(letters)
    if index is None:
        raise SheetError(f"cell reference {reference!r} is not a column and row")
    return index


def _reference(match: re.Match[str]) -> str:
    name, closed = match.groups()
    if not closed:
        raise SheetError(f"a bare '&' in cell text ({match.group(0)!r}…)")
    if name in _PREDEFINED:
        return _PREDEFINED[name]
    try:
        code = int(name[2:], 16) if name[:2] in ("#x", "#X") else int(name[1:]) if name[:1] == "#" else -1
    except ValueError:
        code = -1
    if code in (0x9, 0xA, 0xD) or 0x20 <= code <= 0xD7FF or 0xE000 <= code <= 0xFFFD or 0x10000 <= code <= 0x10FFFF:
        return chr(code)
    raise SheetError(f"&{name}; is not an XML character or predefined entity (DTD entities are refused)")


class _Unescaper:
    """XML text → str: the five predefined entities, character references and line ends. Texts
    with references repeat (names, goods, kinds), so their decodings are remembered, boundedly."""

    def __init__(self, limit: int = 1 << 16) -> None:
        self.known: dict[str, str] = {}
        self.limit = limit

    def __call__(self, raw: str) -> str:
        if "\r" in raw:  # XML end-of-line handling; a &#13; reference survives it, as in any parser
            raw = raw.replace("\r\n", "\n").replace("\r", "\n")
        if "&" not in raw:
            return raw
        text = self.known.get(raw)
        if text is None:
            text = _REFERENCE.sub(_reference, raw)
            if len(self.known) >= self.limit:
                self.known.clear()
            self.known[raw] = text
        return text


_EXTENT = re.compile(rb'\br="([A-Z]{0,3})([0-9]{1,7})"')  # <row r="7"> and <c r="AB7">, whatever the prefix


def cell_extent(archive: zipfile.ZipFile, member: str) -> tuple[int, int]:
    """(rows, columns) that the sheet's cell references span, from the references themselves (the
    declared <dimension> is not trusted): what a reader that allocates the bounding box would
    allocate. Streams the member, so memory stays flat."""
    rows = columns = 0

    def take(text: bytes) -> None:
        nonlocal rows, columns
        for letters, number in _EXTENT.findall(text):
            rows = max(rows, int(number))
            if letters:
                columns = max(columns, COLUMNS.get(letters.decode(), len(COLUMNS)) + 1)

    tail = b""
    with archive.open(member) as stream:
        for chunk in iter(lambda: stream.read(READ_SIZE), b""):
            text = tail + chunk
            cut = text.rfind(b"<")  # a reference cut by the chunk's end is read with the next chunk
            tail = text[cut:] if cut > 0 else b""
            take(text[:cut] if cut > 0 else text)
        take(tail)
    return rows, columns


class StreamingWorkbook:
    def __init__(self, archive: zipfile.ZipFile) -> None:
        self.archive = archive
        self.names = set(archive.namelist())
        self.unescape = _Unescaper()
        # a cell's type and whether its style is a date, by its attributes after r= (` s="2"`)
        self._kinds: dict[str, tuple[str, bool]] = {}
        self._number_attributes: set[str] = set()  # those of plain numbers (money with a 0.00 style …)

    def _xml(self, name: str) -> etree._Element:
        return etree.fromstring(self.archive.read(name), etree.XMLParser(**PARSER))

    def sheets(self) -> list[tuple[str, str]]:
        """(sheet name, member path) in workbook order."""
        targets = {rel.get("Id"): rel.get("Target", "") for rel in self._xml("xl/_rels/workbook.xml.rels")
                   .iter(f"{PKG_REL}Relationship")}
        result = []
        for sheet in self._xml("xl/workbook.xml").iter(f"{MAIN}sheet"):
            target = targets.get(sheet.get(f"{REL}id"), "")
            path = target.lstrip("/") if target.startswith("/") else str(PurePosixPath("xl") / target)
            result.append((sheet.get("name", ""), path))
        return result

    # --- shared strings and styles ------------------------------------------------------------

    @functools.cached_property
    def shared(self) -> list[str]:
        """The shared strings table (read when a sheet is first read: listing sheets needs none)."""
        name = "xl/sharedStrings.xml"
        if name not in self.names:
            return []
        with self.archive.open(name) as member:
            strings = self._shared_strings_fast(_Chunks(member))
            if strings is not None:
                for _ in iter(lambda: member.read(READ_SIZE), b""):  # to the end: zipfile checks the CRC
                    pass
                return strings
        strings = []  # rich text, phonetic runs, a prefix …: lxml reads the whole table
        with self.archive.open(name) as member:
            for _, item in etree.iterparse(member, tag=f"{MAIN}si", **PARSER):
                strings.append(_item_text(item))
                item.clear()
        return strings

    def _shared_strings_fast(self, chunks: _Chunks) -> list[str] | None:
        """The table when every item is a plain <si><t>…</t></si>, else None."""
        if not chunks.encoding_is_utf8():
            return None
        strings: list[str] = []
        for number, chunk in enumerate(chunks.cut_before("<si", "</sst>")):
            if number == 0:
                root = re.search(r"<sst\b[^>]*>", chunk)
                if root is None or f'xmlns="{MAIN_URI}"' not in root.group(0) or "<!" in chunk:
                    return None
                chunk = chunk[root.end():]
            found = _SHARED_ITEM.findall(chunk)
            if len(found) != chunk.count("<si") or "<!" in chunk or "<?" in chunk:
                return None
            strings.extend(self.unescape(text) for text in found)
        return strings if chunks.ended_well else None

    @functools.cached_property
    def date_styles(self) -> set[int]:
        """Indexes of cell styles whose number format shows a date or time."""
        if "xl/styles.xml" not in self.names:
            return set()
        styles = self._xml("xl/styles.xml")
        date_formats = set(BUILTIN_DATE_FORMATS)
        for fmt in styles.iter(f"{MAIN}numFmt"):
            if _DATE_CODE.search(_QUOTED.sub("", fmt.get("formatCode", ""))):
                date_formats.add(int(fmt.get("numFmtId", "0")))
        cell_xfs = styles.find(f"{MAIN}cellXfs")
        if cell_xfs is None:
            return set()
        return {index for index, xf in enumerate(cell_xfs) if int(xf.get("numFmtId", "0")) in date_formats}

    def _kind(self, attributes: str) -> tuple[str, bool]:
        """A cell's type (t) and whether its style shows a date, from its attributes after r=;
        the strings repeat (` s="1"`, ` t="s"`), so each is parsed once."""
        known = self._kinds.get(attributes)
        if known is None:
            values = {m.group(1): m.group(2) if m.group(2) is not None else m.group(3)
                      for m in _ATTRIBUTE.finditer(attributes)}
            try:
                style = int(values.get("s") or 0)
            except ValueError:
                raise SheetError(f"cell style {values.get('s')!r} is not a number") from None
            known = (values.get("t") or "n", style in self.date_styles)
            if len(self._kinds) < 4096:
                self._kinds[attributes] = known
                if known == ("n", False):
                    self._number_attributes.add(attributes)
        return known

    def _value(self, kind: str, is_date: bool, raw: str) -> Any:
        """A cell's value from its type, date style and <v> text."""
        try:
            if kind == "n":
                if is_date:  # no float dust: whole seconds
                    return EXCEL_EPOCH + timedelta(seconds=round(float(raw) * 86400))
                return float(raw)
            if kind == "s":
                return self.shared[int(raw)]
            if kind == "b":
                return raw.strip() == "1"
            if kind == "d":
                return datetime.fromisoformat(raw.strip())
        except (ValueError, IndexError, OverflowError):
            raise SheetError(f"a cell of type {kind!r} holds {raw[:40]!r}") from None
        return self.unescape(raw)  # str (a formula's text), e (an error such as #N/A)

    # --- rows ---------------------------------------------------------------------------------

    def rows(self, member: str, *, fast: bool = True) -> Iterator[list[Any]]:
        """Rows of a sheet as lists of values (str, float, datetime, bool or None), blank rows
        included so that row numbers stay true. ``fast=False`` reads the whole sheet with lxml
        (the tests compare the two)."""
        with self.archive.open(member) as stream:
            rest_of_stream = iter(lambda: stream.read(READ_SIZE), b"")
            chunks = _Chunks(stream)
            if not fast or not chunks.encoding_is_utf8():
                if chunks.declares_dtd():
                    raise SheetError("the worksheet declares a DTD; xlsx worksheets have none (refused for safety)")
                yield from self._rows_lxml(_RowNumbers(), _chain([chunks.raw_head()], rest_of_stream))
                return
            prolog, data = chunks.until_sheet_data()
            if data is None:  # <sheetData/> or none at all: no rows
                return
            numbers = _RowNumbers()
            pieces = chunks.cut_before("<row", "</sheetData>", first=data)
            for chunk in pieces:
                rows = self._scan_chunk(chunk, numbers) if prolog.fast else None
                if rows is None:
                    break
                yield from rows
            else:
                if not chunks.ended_well:
                    raise SheetError("the worksheet ends before </sheetData>: a truncated file?")
                for _ in rest_of_stream:  # read to the end, so that zipfile checks the CRC
                    pass
                return
            # the rest of the sheet, from the start of this chunk's first row on, through lxml
            head = (prolog.root + prolog.sheet_data + chunk).encode()
            rest = (piece.encode() for piece in pieces)
            yield from self._rows_lxml(numbers, _chain([head], rest, chunks.pending(), rest_of_stream))

    def _scan_chunk(self, text: str, numbers: _RowNumbers) -> list[list[Any]] | None:
        """The rows of a chunk of whole rows, or None when it holds anything the token expression
        does not know (then nothing of the chunk has been used, nor any row number)."""
        rows: list[list[Any]] = []
        expected = numbers.expected
        unescape, cell_value, letters, shared = self.unescape, self._cell_value, LETTERS, self.shared
        number_attributes, date_styles = self._number_attributes, self._date_style_texts
        # no comment, CDATA section or processing instruction in the chunk: nothing that could hide
        # text looking like a cell, so a row whose every "<c" starts a styled cell is read whole
        # (a single character is found ten times faster than "<!", where every tag is a candidate)
        plain = ("!" not in text or "<!" not in text) and ("?" not in text or "<?" not in text)
        row_texts = text.split("</row>")
        if row_texts[-1].isspace():  # the line end after the chunk's last row
            row_texts.pop()
        for row_text in row_texts:
            cells = _STYLED_CELL.findall(row_text) if plain else None
            if cells:
                head = _ROW_HEAD.fullmatch(row_text, 0, row_text.find("<c"))
                if (head and head.group(1)[-1:] != "/" and row_text.endswith("</c>")
                        and row_text.count("<c") == len(cells) and [cell[0] for cell in cells] == letters[: len(cells)]):
                    # the bureau's layout (Apache POI): styled cells A, B, C … each in place
                    number = self._row_start(head.group(1), expected, rows)
                    expected = number + 1
                    try:
                        rows.append([
                            (inline if "&" not in inline and "\r" not in inline else unescape(inline)) if inline
                            else (float(number_text) if style not in date_styles else self._value("n", True, number_text))
                            if number_text else None
                            for _, style, inline, number_text in cells
                        ])
                    except ValueError as exc:
                        raise SheetError(f"row {number}: {exc}") from None
                    continue
            tokens = _TOKEN.findall(row_text)
            if not tokens:
                continue
            row_tag = tokens[0][8]
            cells = tokens[1:]
            if row_tag and row_tag[-1] != "/" and [cell[0] for cell in cells] == letters[: len(cells)]:
                # the common row of other writers: cells A, B, C … each in place, values in one pass
                number = self._row_start(row_tag, expected, rows)
                expected = number + 1
                try:
                    rows.append([
                        (inline if "&" not in inline and "\r" not in inline else unescape(inline)) if inline
                        else float(number_text) if number_text and style not in date_styles
                        else shared[int(index)] if index
                        else float(raw) if raw and attributes in number_attributes
                        else cell_value(cell) if attributes or raw or styled_inline or number_text
                        else None
                        for cell in cells
                        for _, inline, style, number_text, index, attributes, raw, styled_inline, _, _ in (cell,)
                    ])
                except IndexError:
                    raise SheetError(f"row {number} refers to a shared string the workbook does not have") from None
                except ValueError as exc:
                    raise SheetError(f"row {number}: {exc}") from None
                continue
            scanned = self._scan_tokens(tokens, rows, expected)
            if scanned is None:
                return None
            expected = scanned
        numbers.expected = expected
        return rows

    @functools.cached_property
    def _date_style_texts(self) -> set[str]:
        """The style indexes as written ("" for none) whose numbers are dates, not plain numbers."""
        return {str(style) for style in self.date_styles} | ({""} if 0 in self.date_styles else set())

    @staticmethod
    def _row_start(row_tag: str, expected: int, rows: list[list[Any]]) -> int:
        """The number of the row whose start tag (its attributes, at least) is ``row_tag``; the
        rows the file leaves out before it are appended to ``rows`` as blank rows."""
        found = _ROW_NUMBER.search(row_tag)
        number = int(found.group(1)) if found else expected
        rows.extend(_left_out(number, expected))
        return number

    def _scan_tokens(self, tokens: list[tuple[str, ...]], rows: list[list[Any]], expected: int) -> int | None:
        """Rows of a token list of any shape the token expression knows (cells may be left out,
        rows may be empty or closed at once), appended to ``rows``; the next row number expected,
        or None when some token is not known."""
        values: list[Any] = []
        for token in tokens:
            column, row_tag, other = token[0], token[8], token[9]
            if column:
                index = COLUMNS[column]
                if index < len(values):
                    raise SheetError(f"cell {column} comes after a cell to its right")
                values.extend([None] * (index - len(values)))
                try:
                    values.append(self._cell_value(token))
                except ValueError as exc:
                    raise SheetError(f"cell {column}: {exc}") from None
            elif row_tag:
                expected = self._row_start(row_tag, expected, rows) + 1
                values = []
                rows.append(values)
                if row_tag[-1] == "/":  # <row r="7"/>: an empty row, closed already
                    values = []
            elif other:
                return None
        return expected

    def _cell_value(self, token: tuple[str, ...]) -> Any:
        """The value of a cell token of any shape."""
        _, inline, style, number_text, index, attributes, raw, styled_inline, _, _ = token
        if inline:
            return self.unescape(inline)
        if number_text:
            return self._value("n", int(style or 0) in self.date_styles, number_text)
        if index:
            return self._value("s", False, index)
        if styled_inline:
            return self.unescape(styled_inline)
        if not raw:
            return None
        kind, is_date = self._kinds.get(attributes) or self._kind(attributes)
        if kind == "s":
            try:
                return self.shared[int(raw)]
            except (ValueError, IndexError):
                raise SheetError(f"shared string {raw[:20]!r} is not in the workbook") from None
        return self._value(kind, is_date, raw)

    def _rows_lxml(self, numbers: _RowNumbers, pieces: Iterable[bytes]) -> Iterator[list[Any]]:
        parser = etree.XMLPullParser(events=("end",), tag=f"{MAIN}row", **PARSER)
        for piece in pieces:
            parser.feed(piece)
            for _, row in parser.read_events():
                number = row.get("r")
                rows = numbers.start(int(number) if number else None)
                rows[-1].extend(self._lxml_values(row))
                yield from rows
                row.clear()
                while row.getprevious() is not None:
                    del row.getparent()[0]
        parser.close()

    def _lxml_values(self, row: etree._Element) -> list[Any]:
        values: list[Any] = []
        for cell in row.iterchildren(f"{MAIN}c"):
            reference = cell.get("r")
            if reference is not None:
                index = _column(reference)
                if index > len(values):
                    values.extend([None] * (index - len(values)))
            kind = cell.get("t") or "n"
            if kind == "inlineStr":
                inline = cell.find(f"{MAIN}is")
                values.append(_item_text(inline) if inline is not None else None)
                continue
            raw = cell.findtext(f"{MAIN}v")
            if raw is None:
                values.append(None)
                continue
            try:
                is_date = int(cell.get("s") or 0) in self.date_styles
            except ValueError:
                raise SheetError(f"cell style {cell.get('s')!r} is not a number") from None
            values.append(raw if kind in ("str", "e") else self._value(kind, is_date, raw))
        return values


def _item_text(item: etree._Element) -> str:
    """The text of a shared string or inline string: its <t>, or its runs' <t>s (phonetic runs,
    <rPh>, are a reading aid and not part of the text)."""
    return "".join(t.text or "" for t in item.iter(f"{MAIN}t") if t.getparent().tag != f"{MAIN}rPh")


class _RowNumbers:
    """Row numbering: rows the file leaves out are blank rows, so numbers stay true."""

    def __init__(self) -> None:
        self.expected = 1

    def start(self, number: int | None) -> list[list[Any]]:
        """The blank rows before row ``number`` and the (empty) list of the row itself."""
        number = number or self.expected
        rows = _left_out(number, self.expected)
        rows.append([])
        self.expected = number + 1
        return rows


def _left_out(number: int, expected: int) -> list[list[Any]]:
    """The blank rows a file leaves out before row ``number`` when row ``expected`` is next (so that
    row numbers stay true); a row number going back is an error."""
    if number < expected:
        raise SheetError(f"row {number} comes after row {expected - 1}")
    return [[] for _ in range(number - expected)]


def _chain(*parts: Iterable[bytes]) -> Iterator[bytes]:
    for part in parts:
        yield from part


class _Prolog:
    """The worksheet up to <sheetData>: its root start tag (for the namespace declarations lxml
    needs when it takes over) and whether the token expression may read the rows."""

    def __init__(self, text: str, sheet_data: str = "<sheetData>", prefixed: bool = False) -> None:
        self.sheet_data = sheet_data
        root = _ROOT.search(text)
        self.root = root.group(0) if root else f'<worksheet xmlns="{MAIN_URI}">'
        self.fast = (not prefixed and root is not None and f'xmlns="{MAIN_URI}"' in self.root
                     and "<!--" not in text)


class _Chunks:
    """Decoded text of a zip member in pieces, read READ_SIZE bytes at a time."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.head = stream.read(READ_SIZE)
        self.decoder = codecs.getincrementaldecoder("utf-8")()
        self.buffer = ""
        self.ended_well = False

    def raw_head(self) -> bytes:
        return self.head

    def declares_dtd(self) -> bool:
        """Whether the part before the root element (within the first READ_SIZE bytes: a DTD
        comes first) declares a DTD, in whichever of the encodings XML allows it is written."""
        for encoding in ("utf-8", "utf-16"):
            text = self.head.decode(encoding, "replace")
            if "<!DOCTYPE" in text or "<!ENTITY" in text:
                return True
        return False

    def encoding_is_utf8(self) -> bool:
        if self.head.startswith((b"\xff\xfe", b"\xfe\xff")) or self.head[:4] in (b"<\x00?\x00", b"\x00<\x00?"):
            return False  # UTF-16
        declared = _DECLARED_ENCODING.match(self.head[:200].decode("ascii", "replace"))
        return declared is None or declared.group(1).lower().replace("_", "-") in ("utf-8", "utf8")

    def _more(self) -> bool:
        if self.head:
            data, self.head = self.head, b""
        else:
            data = self.stream.read(READ_SIZE)
        if not data:
            self.buffer += self.decoder.decode(b"", final=True)
            return False
        try:
            self.buffer += self.decoder.decode(data)
        except UnicodeDecodeError as exc:
            raise SheetError(f"the XML is not valid UTF-8: {exc.reason}") from None
        return True

    def pending(self) -> Iterator[bytes]:
        """What was read but not handed out yet, as bytes again (lxml takes over from here):
        given when iterated, after the pieces handed out before it."""
        text, self.buffer = self.buffer, ""
        yield text.encode() + self.decoder.getstate()[0]  # with a character's bytes read only in part

    def until_sheet_data(self) -> tuple[_Prolog, str | None]:
        """The prolog and the text right after the <sheetData> start tag (None: no rows)."""
        while (found := _SHEET_DATA.search(self.buffer)) is None:
            if len(self.buffer) > MAX_ROW_CHARS:
                raise SheetError("no <sheetData> in the worksheet's first 32 MB")
            if not self._more():
                return _Prolog(self.buffer), None
        prolog_text = self.buffer[: found.start()]
        if "<!DOCTYPE" in prolog_text or "<!ENTITY" in prolog_text:
            raise SheetError("the worksheet declares a DTD; xlsx worksheets have none (refused for safety)")
        prolog = _Prolog(prolog_text, found.group(0), prefixed=bool(found.group(1)))
        if found.group(2):  # <sheetData/>
            return prolog, None
        data, self.buffer = self.buffer[found.end():], ""
        return prolog, data

    def cut_before(self, marker: str, end_tag: str, first: str = "") -> Iterator[str]:
        """Pieces of text that each end right before an occurrence of ``marker`` (so that every
        piece holds whole elements), then the rest up to ``end_tag``, which stays unread."""
        self.buffer = first + self.buffer
        while True:
            end = self.buffer.find(end_tag)
            if end >= 0:
                text, self.buffer = self.buffer[:end], self.buffer[end:]
                self.ended_well = True
                if text:
                    yield text
                return
            cut = self.buffer.rfind(marker, 1)
            if cut > 0:
                text, self.buffer = self.buffer[:cut], self.buffer[cut:]
                yield text
            elif len(self.buffer) > MAX_ROW_CHARS:
                raise SheetError(f"an element larger than {MAX_ROW_CHARS // 1024**2} MB")
            if not self._more():
                if self.buffer.strip():
                    text, self.buffer = self.buffer, ""
                    yield text
                return
