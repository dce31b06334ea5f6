"""PDF and OFD decompression is bounded: a deflate bomb is refused in milliseconds with flat memory."""

from __future__ import annotations

import base64
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import pytest

from fapiaohub.importers.base import UnreadableFile
from fapiaohub.importers.pdf import read_pdf
from fapiaohub.importers.pdf_streams import MAX_FILE_INFLATED, MAX_STREAM_INFLATED, TooLarge, check_streams

GIB = 1024**3


def deflated(size: int, *, times: int = 1) -> bytes:
    """``size`` bytes of PDF whitespace, deflated ``times`` times, built in 1 MiB steps."""
    compressor = zlib.compressobj(9)
    piece = b" " * (1024 * 1024)
    data = b"".join(compressor.compress(piece) for _ in range(size // len(piece))) + compressor.flush()
    for _ in range(times - 1):
        data = zlib.compress(data, 9)
    return data


def pdf_with(streams: list[tuple[bytes, bytes]]) -> bytes:
    """A one-page PDF whose page content is the given (filter, data) streams."""
    contents = " ".join(f"{4 + n} 0 R" for n in range(len(streams)))
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents [{contents}] >>".encode()]
    objects += [b"<< /Length %d /Filter %s >>\nstream\n%s\nendstream" % (len(data), filters, data)
                for filters, data in streams]
    out = b"%PDF-1.7\n"
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    return out + b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)


@pytest.fixture(scope="module")
def bomb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 5 KB PDF whose page content inflates to 1 GiB (deflated twice, about 200,000:1)."""
    path = tmp_path_factory.mktemp("bomb") / "bomb.pdf"
    path.write_bytes(pdf_with([(b"[/FlateDecode /FlateDecode]", deflated(GIB, times=2))]))
    return path


MEASURED_READ = """
import resource, sys, time
resource.setrlimit(resource.RLIMIT_AS, (2 * 1024**3, 2 * 1024**3))
from fapiaohub.importers import read_invoices
from fapiaohub.importers.base import UnreadableFile
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.monotonic()
try:
    outcome = [type(record).__name__ for record in read_invoices(sys.argv[1])]
except UnreadableFile as exc:
    outcome = exc.reason.replace(" ", "_")
print(outcome, (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024, time.monotonic() - start)
"""


def measured_read(path: Path) -> tuple[str, int, float]:
    """(outcome, peak RSS growth in MiB, seconds) of importing ``path`` in a fresh process."""
    done = subprocess.run([sys.executable, "-c", MEASURED_READ, str(path)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    outcome, grown, seconds = done.stdout.split()
    return outcome, int(grown), float(seconds)


def test_a_pdf_deflate_bomb_is_refused_with_flat_memory(bomb: Path) -> None:
    assert bomb.stat().st_size < 51 * 1024
    outcome, grown_mb, seconds = measured_read(bomb)
    assert "decompression_bomb" in outcome
    assert grown_mb < 40  # measured 1 MB; unchecked, pdfminer took 2,985 MB (the 3 GiB cap) and 245 s
    assert seconds < 5  # measured 0.05 s


def test_an_ofd_deflate_bomb_is_refused_with_flat_memory(tmp_path: Path) -> None:
    path = tmp_path / "bomb.ofd"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("OFD.xml", "w") as member:
            for _ in range(256):
                member.write(b" " * (1024 * 1024))
    outcome, grown_mb, seconds = measured_read(path)
    assert "decompresses_to_more_than_50_MB" in outcome
    assert grown_mb < 40
    assert seconds < 5


def test_the_bounds_per_stream_and_per_file() -> None:
    just_under = deflated(MAX_STREAM_INFLATED - 1024 * 1024)
    check_streams(pdf_with([(b"/FlateDecode", just_under)]))
    with pytest.raises(TooLarge, match="a stream inflates to more than 32 MB"):
        check_streams(pdf_with([(b"/FlateDecode", deflated(MAX_STREAM_INFLATED + 1024 * 1024))]))
    with pytest.raises(TooLarge, match=f"streams inflate to more than {MAX_FILE_INFLATED // 1024**2} MB"):
        check_streams(pdf_with([(b"/FlateDecode", just_under)] * 3))


def test_text_encodings_before_the_inflation_are_seen_through() -> None:
    wrapped = base64.a85encode(deflated(64 * 1024 * 1024), adobe=False) + b"~>"
    with pytest.raises(TooLarge):
        check_streams(pdf_with([(b"[/ASCII85Decode /FlateDecode]", wrapped)]))
    hexed = deflated(64 * 1024 * 1024).hex().encode() + b">"
    with pytest.raises(TooLarge):
        check_streams(pdf_with([(b"[/AHx /Fl]", hexed)]))


def test_lzw_streams_are_bounded_by_their_raw_size() -> None:
    check_streams(pdf_with([(b"/LZWDecode", b"\x80" * 1024)]))
    with pytest.raises(TooLarge):
        check_streams(pdf_with([(b"/LZWDecode", b"\x80" * (65 * 1024))]))


def test_broken_and_image_streams_are_left_to_the_readers() -> None:
    check_streams(pdf_with([(b"/FlateDecode", b"not deflate at all"), (b"/DCTDecode", b"\xff\xd8" * 100_000)]))


def test_read_pdf_refuses_the_bomb_as_an_unreadable_file(bomb: Path) -> None:
    with pytest.raises(UnreadableFile, match="decompression bomb"):
        list(read_pdf(bomb))
