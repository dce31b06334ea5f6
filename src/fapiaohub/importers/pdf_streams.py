"""Decompression of a PDF bounded before any reader inflates it: every compressed stream is inflated
here, in bounded steps and without keeping the output, and a file whose streams would inflate past
the bounds is refused. pdfminer (under pdfplumber) and pdfium inflate a stream whole, so a 51 KB
file with a twice-deflated stream (about 20,000:1) would otherwise take a gigabyte of memory.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable

from pdfminer.ascii85 import ascii85decode, asciihexdecode

MAX_STREAM_INFLATED = 32 * 1024**2  # one stream: a page's content or an embedded font is well below 1 MB
MAX_FILE_INFLATED = 64 * 1024**2  # all streams of the file together
MAX_LZW_RAW = 64 * 1024  # LZW (not inflated here): ≤ 64 KB raw, so at most about 175 MB whatever it holds
STEP = 256 * 1024  # bytes inflated per step: the most any step holds
_STREAM = re.compile(rb"stream\r?\n")
_FILTER = re.compile(rb"/Filter\s*(\[[^\]]*\]|/[A-Za-z0-9]+)")
_NAME = re.compile(rb"/([A-Za-z0-9]+)")
_DECODERS: dict[bytes, Callable[[bytes], bytes]] = {  # shrinking text encodings, decoded before inflating
    b"ASCII85Decode": ascii85decode, b"A85": ascii85decode, b"ASCIIHexDecode": asciihexdecode, b"AHx": asciihexdecode,
}
_FLATE = frozenset({b"FlateDecode", b"Fl"})
_LZW = frozenset({b"LZWDecode", b"LZW"})


class TooLarge(ValueError):  # noqa: N818 - named for what the file is
    """The PDF's streams inflate past a bound; the message says which."""


def check_streams(data: bytes) -> None:
    """Raise TooLarge when the PDF's compressed streams would inflate past the bounds."""
    total = 0
    position = 0
    while (found := _STREAM.search(data, position)) is not None:
        start = position = found.end()
        if data[max(0, found.start() - 3):found.start()] == b"end":
            continue  # "endstream\n" matched "stream\n": not a stream's start
        end = data.find(b"endstream", start)
        if end < 0:
            end = len(data)
        position = end
        filters = _filters(data, found.start())
        if not filters:
            continue
        size = _decoded_size(data[start:end], filters)
        if size > MAX_STREAM_INFLATED:
            raise TooLarge(f"a stream inflates to more than {MAX_STREAM_INFLATED // 1024**2} MB "
                           "(a decompression bomb?); an invoice's streams are well below 1 MB")
        total += size
        if total > MAX_FILE_INFLATED:
            raise TooLarge(f"its streams inflate to more than {MAX_FILE_INFLATED // 1024**2} MB "
                           "(a decompression bomb?)")


def _filters(data: bytes, stream_at: int) -> list[bytes]:
    """The filter names of the stream dictionary that ends at ``stream_at``."""
    head = data[max(0, stream_at - 65536):stream_at]
    head = head[head.rfind(b"obj") + 3:] if b"obj" in head else head
    found = _FILTER.search(head)
    return _NAME.findall(found.group(1)) if found else []


def _decoded_size(raw: bytes, filters: list[bytes]) -> int:
    """How many bytes the stream decodes to, counted up to just past MAX_STREAM_INFLATED."""
    for index, name in enumerate(filters):
        if name in _DECODERS:
            try:
                raw = _DECODERS[name](raw)
            except ValueError:
                return 0  # the readers will find it broken too
        elif name in _LZW:
            return MAX_STREAM_INFLATED + 1 if len(raw) > MAX_LZW_RAW else 0
        elif name in _FLATE:
            layers = 1
            while index + layers < len(filters) and filters[index + layers] in _FLATE:
                layers += 1
            return _inflated_size(raw, layers)
        else:
            return 0  # images (DCT, JPX, CCITT, JBIG2) and the like: decoded only to draw them, not inflated
    return len(raw)


def _inflated_size(raw: bytes, layers: int) -> int:
    """Bytes out of ``layers`` chained inflations of ``raw``, in steps of STEP: stops counting past the
    stream bound. A stream that turns out broken counts what came out before the break (pdfminer keeps
    that much too)."""
    decoders = [zlib.decompressobj() for _ in range(layers)]
    total = 0

    def feed(level: int, chunk: bytes) -> bool:
        nonlocal total
        if level == layers:
            total += len(chunk)
            return total <= MAX_STREAM_INFLATED
        decoder = decoders[level]
        while not decoder.eof:
            out = decoder.decompress(chunk, STEP)
            chunk = decoder.unconsumed_tail
            if out:
                if not feed(level + 1, out):
                    return False
            elif not chunk:
                break  # this input is used up; the next chunk from above goes on
        return True

    try:
        feed(0, raw)
    except zlib.error:
        pass
    return total
