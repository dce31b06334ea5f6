"""A streaming xlsx row reader (lxml iterparse): constant memory whatever the sheet's size.

python-calamine is faster but holds a whole sheet; openpyxl's read-only mode streams but builds
an object per cell. This reads only what the importers need — cell values, shared strings, and
which number formats are dates — and discards every row once it is yielded.
"""

from __future__ import annotations

import functools
import re
import zipfile
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import PurePosixPath
from typing import Any

from lxml import etree

MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
PKG_REL = "{http://schemas.openxmlformats.org/package/2006/relationships}"
BUILTIN_DATE_FORMATS = {14, 15, 16, 17, 18, 19, 20, 21, 22, 45, 46, 47}
_DATE_CODE = re.compile(r"[ymdhs]", re.IGNORECASE)
_QUOTED = re.compile(r'"[^"]*"|\[[^\]]*\]')
EXCEL_EPOCH = datetime(1899, 12, 30)
PARSER = {"resolve_entities": False, "no_network": True, "huge_tree": True}


@functools.cache
def _letters_index(letters: str) -> int:
    number = 0
    for char in letters:
        number = number * 26 + ord(char.upper()) - 64
    return number - 1


def _column(reference: str) -> int:
    """0-based column of a cell reference such as "AB12"."""
    return _letters_index(reference.rstrip("0123456789"))


class StreamingWorkbook:
    def __init__(self, archive: zipfile.ZipFile) -> None:
        self.archive = archive
        self.shared = self._shared_strings()
        self.date_styles = self._date_styles()

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

    def _shared_strings(self) -> list[str]:
        if "xl/sharedStrings.xml" not in self.archive.namelist():
            return []
        strings = []
        with self.archive.open("xl/sharedStrings.xml") as member:
            for _, item in etree.iterparse(member, tag=f"{MAIN}si", **PARSER):
                strings.append("".join(t.text or "" for t in item.iter(f"{MAIN}t")))
                item.clear()
        return strings

    def _date_styles(self) -> set[int]:
        """Indexes of cell styles whose number format shows a date or time."""
        if "xl/styles.xml" not in self.archive.namelist():
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

    def rows(self, member: str) -> Iterator[list[Any]]:
        """Rows of a sheet as lists of values (str, float, datetime, bool or None), blank rows
        included so that row numbers stay true."""
        expected = 1
        with self.archive.open(member) as stream:
            for _, row in etree.iterparse(stream, tag=f"{MAIN}row", **PARSER):
                number = int(row.get("r") or expected)
                while expected < number:  # rows the file leaves out are blank rows
                    expected += 1
                    yield []
                expected = number + 1
                yield self._values(row)
                row.clear()
                while row.getprevious() is not None:
                    del row.getparent()[0]

    def _values(self, row: etree._Element) -> list[Any]:
        # the hot loop of big imports: locals, child indexing instead of find, no method calls
        values: list[Any] = []
        shared, dates, inline = self.shared, self.date_styles, f"{MAIN}t"
        for cell in row:
            reference = cell.get("r")
            if reference is not None:
                index = _column(reference)
                if index > len(values):
                    values.extend([None] * (index - len(values)))
            kind = cell.get("t")
            if kind == "inlineStr":
                values.append("".join(t.text or "" for t in cell.iter(inline)))
                continue
            raw = cell[-1].text if len(cell) else None  # <v> follows a formula's <f>
            if raw is None:
                values.append(None)
            elif kind == "s":
                values.append(shared[int(raw)])
            elif kind in ("str", "e"):
                values.append(raw)
            elif kind == "b":
                values.append(raw == "1")
            elif int(cell.get("s") or 0) in dates:
                values.append(EXCEL_EPOCH + timedelta(seconds=round(float(raw) * 86400)))  # no float dust
            else:
                values.append(float(raw))
        return values
