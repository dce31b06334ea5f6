"""The 数电 XML writer lives in the product (the demo's samples use it): re-exported for the tests."""

from fapiaohub.shapes.einvoice_xml import einvoice_xml, write_einvoice_xml

__all__ = ["einvoice_xml", "write_einvoice_xml"]
