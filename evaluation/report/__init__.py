"""Reports: the bureau's Excel workbook, Chinese PDFs (Typst), notebooks and the manifest."""
