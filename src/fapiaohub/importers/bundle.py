"""Zip bundles as the bureau delivers downloads (a zip holding invoice.zip holding xml/, ofd/, pdf/),
or any nesting of zips and folders of invoice files: every member read as a file, within bounds,
each invoice yielded once with its sources merged (domain.merge). See docs/formats/bundles.md."""

from __future__ import annotations

import re
import stat
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from fapiaohub.domain.merge import ORIGIN_RANK, merge_with_findings
from fapiaohub.importers import SUPPORTED, read_invoices, sniff
from fapiaohub.importers.base import ImportRecord, Parsed, Rejected, Skipped, SourceRef, UnreadableFile, checked
from fapiaohub.importers.sdp_xml import NotInvoiceXml

MIB = 1024 * 1024
CHUNK = MIB


@dataclass(frozen=True, slots=True)
class BundleLimits:
    """What a bundle may hold. Sizes are counted as decompressed, never as the zip declares them."""

    max_total_bytes: int = 1024 * MIB  # all members of all levels, nested archives included
    max_members: int = 10_000  # files (not folders) of all levels
    max_ratio: int = 100  # decompressed : compressed, per member ...
    ratio_floor: int = MIB  # ... once the member has decompressed to this many bytes
    max_depth: int = 3  # zips within zips, the bundle itself being the first


DEFAULT_LIMITS = BundleLimits()
_SUFFIX = re.compile(r"\.[a-z0-9]{1,8}")
_DRIVE = re.compile(r"^[A-Za-z]:")


class BundleRefused(UnreadableFile):
    """A bound of BundleLimits exceeded: the whole bundle is refused."""


@dataclass(slots=True)
class _Leaf:
    """An extracted invoice file: its format's precedence, its path inside the bundle, its copy."""

    rank: int
    order: int
    display: str
    path: Path


@dataclass(slots=True)
class _Expansion:
    """Phase one: the bundle's tree extracted to ``workdir`` within the limits."""

    root: Path
    workdir: Path
    limits: BundleLimits
    total: int = 0
    members: int = 0
    leaves: list[_Leaf] = field(default_factory=list)
    notes: list[ImportRecord] = field(default_factory=list)  # members passed over or refused

    def refuse(self, bound: str, detail: str) -> BundleRefused:
        return BundleRefused(self.root, f"{detail} (bound: {bound}); nothing of the bundle is imported")

    def expand(self, archive_path: Path, display: str, depth: int) -> None:
        with zipfile.ZipFile(archive_path) as archive:
            for info in archive.infolist():
                name = _member_name(info)
                member = f"{display}/{name.rstrip('/')}"
                self._check_name(name, member)
                if info.is_dir():
                    continue
                self.members += 1
                if self.members > self.limits.max_members:
                    raise self.refuse("member count", f"more than {self.limits.max_members} files in the bundle")
                if stat.S_ISLNK(info.external_attr >> 16):
                    self.notes.append(Skipped(SourceRef(member), "a symbolic link, not an invoice file"))
                    continue
                self._member(archive, info, name, member, depth)

    def _check_name(self, name: str, member: str) -> None:
        if name.startswith("/") or _DRIVE.match(name):
            raise self.refuse("member paths", f"member {member!r} has an absolute path")
        if ".." in name.split("/"):
            raise self.refuse("member paths", f"member {member!r} has a '..' in its path")

    def _member(self, archive: zipfile.ZipFile, info: zipfile.ZipInfo, name: str, member: str, depth: int) -> None:
        suffix = Path(name).suffix.lower()
        target = self.workdir / f"{self.members}{suffix if _SUFFIX.fullmatch(suffix) else ''}"
        try:
            self._extract(archive, info, target, member)
        except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as exc:
            # a corrupt, encrypted or oddly compressed member: refused alone, the rest imports
            target.unlink(missing_ok=True)
            self.notes.append(Rejected(SourceRef(member), f"cannot extract: {exc}"))
            return
        try:
            kind = sniff(target)
        except UnreadableFile as exc:
            target.unlink(missing_ok=True)
            self.notes.append(Rejected(SourceRef(member), exc.reason))
            return
        if kind == "zip":
            if depth >= self.limits.max_depth:
                raise self.refuse("nesting depth", f"{member} is a zip nested more than {self.limits.max_depth} deep")
            self.expand(target, member, depth + 1)
            target.unlink()
        elif kind is None:
            target.unlink()
            self.notes.append(Skipped(SourceRef(member), "not an invoice file (not a PDF, OFD, XML, xlsx or zip)"))
        else:
            self.leaves.append(_Leaf(ORIGIN_RANK[kind], len(self.leaves), member, target))

    def _extract(self, archive: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, member: str) -> None:
        """Copy a member out, counting what it really decompresses to (a declared size can lie)."""
        limits = self.limits
        written = 0
        with archive.open(info) as source, target.open("wb") as out:
            while chunk := source.read(CHUNK):
                written += len(chunk)
                self.total += len(chunk)
                if self.total > limits.max_total_bytes:
                    raise self.refuse("total uncompressed size",
                                      f"more than {limits.max_total_bytes // MIB} MB when decompressed")
                if written >= limits.ratio_floor and written > limits.max_ratio * max(info.compress_size, 1):
                    raise self.refuse("compression ratio", f"{member} decompresses to more than "
                                      f"{limits.max_ratio} times its compressed size (a zip bomb?)")
                out.write(chunk)


def _member_name(info: zipfile.ZipInfo) -> str:
    """A member's name as the user sees it: Windows tools write GBK names without the UTF-8 flag,
    which zipfile reads as cp437. Backslashes are separators too."""
    name = info.filename
    if not info.flag_bits & 0x800:
        try:
            name = name.encode("cp437").decode("gbk")
        except (UnicodeEncodeError, UnicodeDecodeError):
            pass
    return name.replace("\\", "/")


def read_bundle(path: Path, limits: BundleLimits = DEFAULT_LIMITS) -> Iterator[ImportRecord]:
    """The records of a bundle: members not invoice files are Skipped, unreadable members Rejected,
    and each invoice (by Invoice.key) yielded once, merged from its members in precedence order.
    A bound exceeded refuses the whole bundle (UnreadableFile) before any record is yielded."""
    path = Path(path)
    with tempfile.TemporaryDirectory(prefix="fapiaohub-bundle-", ignore_cleanup_errors=True) as workdir:
        expansion = _Expansion(path, Path(workdir), limits)
        try:
            expansion.expand(path, path.name, 1)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError) as exc:
            raise UnreadableFile(path, f"cannot read the zip: {exc}") from None
        if not expansion.leaves and not any(isinstance(note, Rejected) for note in expansion.notes):
            # a zip of photos or documents: most likely the wrong file, so say so rather than import nothing
            raise UnreadableFile(path, "a zip archive that is neither an xlsx workbook nor an OFD and holds no "
                                 f"invoice file; supported: {SUPPORTED}")
        yield from expansion.notes
        yield from _merged(expansion.leaves)


def _merged(leaves: list[_Leaf]) -> Iterator[ImportRecord]:
    """Read the leaves most reliable format first, folding the records of one invoice into one."""
    merged: dict[str, Parsed] = {}
    sources: dict[str, int] = {}
    for leaf in sorted(leaves, key=lambda leaf: (leaf.rank, leaf.order)):
        staged: list[ImportRecord] = []
        try:
            # a member that turns out unreadable leaves nothing behind, like a file on its own
            staged.extend(replace(record, source=replace(record.source, file=leaf.display))
                          for record in read_invoices(leaf.path))
        except NotInvoiceXml as exc:
            yield Skipped(SourceRef(leaf.display), exc.reason)
            continue
        except UnreadableFile as exc:
            yield Rejected(SourceRef(leaf.display), exc.reason)
            continue
        finally:
            leaf.path.unlink(missing_ok=True)
        for record in staged:
            if not isinstance(record, Parsed):
                yield record
                continue
            key = record.invoice.key
            held = merged.get(key)
            if held is None:
                merged[key] = record
                sources[key] = 1
                continue
            invoice, findings = merge_with_findings([held.invoice, record.invoice])
            merged[key] = Parsed(invoice, held.source, _united(held.flags, record.flags, findings))
            sources[key] += 1
    for key, record in merged.items():
        if sources[key] == 1:
            yield record
            continue
        # the merged invoice is a new combination of values: through the domain rules again
        rechecked = checked(record.invoice, record.source)
        if isinstance(rechecked, Parsed):
            rechecked.flags = _united(record.flags, rechecked.flags)
        yield rechecked


def _united(*lists: list[str]) -> list[str]:
    return list(dict.fromkeys(flag for flags in lists for flag in flags))
