"""An OFD package read under bounds: its members, DocInfo CustomData, the pages and their templates as
positioned text, the CustomTag tags and the attachments (GB/T 33190 structure, matched by local name)."""

from __future__ import annotations

import dataclasses
import posixpath
import zipfile
from pathlib import Path

from lxml import etree

from fapiaohub.importers.base import UnreadableFile
from fapiaohub.importers.ofd_text import Text, children, descendants, local, page_texts, resolve, template_ids
from fapiaohub.importers.sdp_xml import parse_xml

MAX_OFD_UNCOMPRESSED = 50 * 1024 * 1024
MAX_MEMBERS = 2000
MAX_PAGES = 500


class OfdError(ValueError):
    """The OFD holds an invoice but a value of it is missing or unreadable; the message names it."""


class Archive:
    """Members of an OFD read under a total budget of decompressed bytes (headers can lie)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.zip = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as exc:
            raise UnreadableFile(path, f"not an OFD (OFD files are zip archives): {exc}") from None
        members = self.zip.infolist()
        if len(members) > MAX_MEMBERS:
            raise UnreadableFile(path, f"{len(members)} members; an OFD invoice has a few dozen")
        for member in members:
            if member.filename.startswith("/") or ".." in Path(member.filename).parts:
                raise UnreadableFile(path, f"member path {member.filename!r} escapes the archive")
        if sum(m.file_size for m in members) > MAX_OFD_UNCOMPRESSED:
            raise UnreadableFile(path, f"decompresses to more than {MAX_OFD_UNCOMPRESSED // 1024**2} MB")
        self.names = {m.filename for m in members}
        self.budget = MAX_OFD_UNCOMPRESSED

    def read(self, name: str) -> bytes:
        if name not in self.names:
            raise UnreadableFile(self.path, f"member {name} is missing")
        try:
            with self.zip.open(name) as member:
                data = member.read(self.budget + 1)
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise UnreadableFile(self.path, f"member {name} is corrupt: {exc}") from None
        self.budget -= len(data)
        if self.budget < 0:
            raise UnreadableFile(self.path, f"decompresses to more than {MAX_OFD_UNCOMPRESSED // 1024**2} MB")
        return data

    def xml(self, name: str) -> etree._Element:
        return parse_xml(self.read(name), self.path)

    def optional_xml(self, name: str) -> etree._Element | None:
        """A member that the invoice can do without: None when absent or not well-formed XML (one producer
        writes a CustomTag.xml with an empty namespace prefix). The size budget still applies."""
        if name not in self.names:
            return None
        data = self.read(name)
        try:
            return parse_xml(data, self.path)
        except UnreadableFile:
            return None

    def close(self) -> None:
        self.zip.close()


@dataclasses.dataclass(slots=True)
class Attachment:
    name: str
    format: str
    member: str


def _text(element: etree._Element | None) -> str:
    return "".join(element.itertext()).strip() if element is not None else ""


class OfdDocument:
    """What an OFD says, by structure: CustomData, page texts (page and template), tags, attachments."""

    def __init__(self, archive: Archive) -> None:
        self.archive = archive
        self.notes: list[str] = []
        root = archive.xml("OFD.xml")
        if local(root) != "OFD":
            raise UnreadableFile(archive.path, f"OFD.xml's root is <{local(root)}>, not <OFD>")
        body = next(iter(children(root, "DocBody")), None)
        if body is None:
            raise UnreadableFile(archive.path, "OFD.xml has no DocBody")
        info = next(iter(children(body, "DocInfo")), None)
        self.creator = _text(next(iter(children(info, "Creator")), None)) if info is not None else ""
        self.custom: dict[str, str] = {}
        for data in descendants(info, "CustomData") if info is not None else ():
            self.custom.setdefault(data.get("Name", "").strip(), _text(data))
        doc_root = _text(next(iter(children(body, "DocRoot")), None))
        if not doc_root:
            raise UnreadableFile(archive.path, "OFD.xml names no DocRoot")
        self.document_member = resolve("", doc_root)
        self.base = posixpath.dirname(self.document_member)
        document = archive.xml(self.document_member)
        self._templates: dict[str, str] = {}
        self._template_texts: dict[str, list[Text]] = {}
        for common in children(document, "CommonData"):
            for tpl in children(common, "TemplatePage"):
                self._templates[tpl.get("ID", "")] = resolve(self.base, tpl.get("BaseLoc", ""))
        self.page_ids: list[str] = []
        self.pages: list[list[Text]] = []
        for pages in children(document, "Pages"):
            for page in children(pages, "Page"):
                if len(self.pages) >= MAX_PAGES:
                    raise UnreadableFile(archive.path, f"more than {MAX_PAGES} pages; an invoice has a few")
                self._read_page(page.get("ID", ""), resolve(self.base, page.get("BaseLoc", "")))
        self.tags = self._read_tags(document)
        self.attachments = self._read_attachments(document)

    def _template(self, template_id: str, page: int) -> list[Text]:
        member = self._templates.get(template_id)
        if member is None:
            return []
        if template_id not in self._template_texts:
            content = self.archive.optional_xml(member)
            self._template_texts[template_id] = page_texts(content, -1, template=True) if content is not None else []
        return [dataclasses.replace(text, page=page) for text in self._template_texts[template_id]]

    def _read_page(self, page_id: str, member: str) -> None:
        index = len(self.pages)
        content = self.archive.optional_xml(member)
        if content is None:
            self.notes.append(f"page {member} is missing or not XML")
            texts: list[Text] = []
        else:
            texts = page_texts(content, index)
            for template_id in template_ids(content):
                texts.extend(self._template(template_id, index))
        self.page_ids.append(page_id)
        self.pages.append(texts)

    def all_texts(self) -> list[Text]:
        """Every text of every page with its templates; for a file without pages, the templates' texts."""
        texts = [text for page in self.pages for text in page]
        if not self.pages:
            for template_id in self._templates:
                texts.extend(self._template(template_id, 0))
        return texts

    def _read_tags(self, document: etree._Element) -> dict[str, list[list[Text]]]:
        """Tag name (local, e.g. BuyerName) → its occurrences, each the texts its ObjectRefs point to."""
        index_loc = _text(next(iter(children(document, "CustomTags")), None))
        if not index_loc:
            return {}
        index_member = resolve(self.base, index_loc)
        index = self.archive.optional_xml(index_member)
        if index is None:
            self.notes.append("CustomTags.xml is missing or not XML")
            return {}
        by_object: dict[tuple[int, str], list[Text]] = {}
        by_id: dict[str, list[Text]] = {}  # for a PageRef that names no page: the object ID alone
        for page in self.pages:
            for text in page:
                if not text.template:
                    by_object.setdefault((text.page, text.obj), []).append(text)
        for (_, object_id), texts in by_object.items():
            by_id.setdefault(object_id, texts)  # the first page that has the ID
        page_index = {page_id: number for number, page_id in enumerate(self.page_ids)}
        tags: dict[str, list[list[Text]]] = {}
        for custom_tag in descendants(index, "CustomTag"):
            loc = _text(next(iter(children(custom_tag, "FileLoc")), None))
            tag_root = self.archive.optional_xml(resolve(posixpath.dirname(index_member), loc)) if loc else None
            if tag_root is None:
                self.notes.append(f"CustomTag {loc or '(no FileLoc)'} is missing or not well-formed XML")
                continue
            for holder in tag_root.iter():
                refs = children(holder, "ObjectRef")
                if not refs:
                    continue
                found: list[Text] = []
                for ref in refs:
                    # PageRef is the page's ID in Document.xml, not its index
                    number = page_index.get(ref.get("PageRef", "").strip())
                    object_id = _text(ref)
                    found.extend(by_object.get((number, object_id), []) if number is not None
                                 else by_id.get(object_id, []))
                tags.setdefault(local(holder), []).append(found)
        return tags

    def _read_attachments(self, document: etree._Element) -> list[Attachment]:
        loc = _text(next(iter(children(document, "Attachments")), None))
        member = resolve(self.base, loc) if loc else resolve(self.base, "Attachs/Attachments.xml")
        index = self.archive.optional_xml(member)
        if index is None:
            return []
        out = []
        for attachment in descendants(index, "Attachment"):
            file_loc = _text(next(iter(children(attachment, "FileLoc")), None))
            if not file_loc:
                continue
            target = resolve(posixpath.dirname(member), file_loc)
            if target not in self.archive.names:
                target = resolve(posixpath.dirname(member), posixpath.basename(file_loc))
            out.append(Attachment(attachment.get("Name", ""), attachment.get("Format", "").lower(), target))
        return out
