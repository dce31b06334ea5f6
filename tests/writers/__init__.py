"""Writers of the document formats the importers read (数电 XML, OFD, PDF): synthetic files in the
real layouts, for tests. Real third-party invoices are not copied into the project."""
