"""Documents as files: JSON, CSV and XLSX, the last two over the document's flat tables.

* JSON: the document itself (UTF-8, indented).
* CSV: ONE document (RFC 4180, UTF-8, CRLF) with a section per table: a line holding only
  ``[table name]``, the header row, the rows, then an empty line. One file is easier to hand on than a zip
  and still splits into tables on the ``[...]`` lines.
* XLSX: one sheet per table (same names and columns), header row bold and frozen, numbers stored as
  numbers, dates as ISO 8601 text. A column's name sets its number format: shares (``*share``, ``*rate``,
  ``share*``, ``traced*``) as percentages, ``*hhi`` with thousands separators.

Supplier-controlled text (part numbers, organisation names, decline reasons) can start with ``=``,
``+``, ``-`` or ``@``, which spreadsheet programs run as formulas: CSV cells starting so get a leading
apostrophe, and XLSX cells are always written as text, never as formulas.

The audit report (`tiertrace.audit.exports`) and the chain view (`tiertrace.chains.exports`) say which
tables they hold and how their files are named; everything else is here.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

FORMATS = ("json", "csv", "xlsx")
MEDIA_TYPES = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Table:
    """One table of a document: a sheet of the XLSX, a section of the CSV."""

    name: str
    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]


@dataclass(frozen=True)
class ExportFile:
    """A rendered export: its bytes, media type and a download file name."""

    content: bytes
    media_type: str
    filename: str


def export(
    document: Mapping[str, Any],
    tables: Callable[[Mapping[str, Any]], list[Table]],
    fmt: str,
    stem: str,
) -> ExportFile:
    """`document` as `fmt`: JSON of the document, or CSV/XLSX of `tables(document)`, named ``stem.fmt``.

    Raises ValueError for a format other than "json", "csv" or "xlsx".
    """
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}")
    content = to_json(document) if fmt == "json" else (to_csv if fmt == "csv" else to_xlsx)(tables(document))
    return ExportFile(content, MEDIA_TYPES[fmt], f"{stem}.{fmt}")


def filename_part(text: str, fallback: str) -> str:
    """`text` with each run of characters outside [A-Za-z0-9._-] made one "_"; `fallback` if none is left."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or fallback


def to_json(document: Mapping[str, Any]) -> bytes:
    """The document as UTF-8 JSON."""
    return json.dumps(document, ensure_ascii=False, indent=2).encode("utf-8")


def to_csv(tables: Sequence[Table]) -> bytes:
    """Every table in one CSV document, a ``[name]`` line before each section."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for table in tables:
        writer.writerow([f"[{table.name}]"])
        writer.writerow(table.columns)
        writer.writerows([_csv_cell(v) for v in row] for row in table.rows)
        writer.writerow([])
    return out.getvalue().encode("utf-8")


def to_xlsx(tables: Sequence[Table]) -> bytes:
    """Every table as a sheet of one workbook (openpyxl): bold frozen header, numbers as numbers."""
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    workbook = Workbook()
    workbook.remove(workbook.active)
    bold = Font(bold=True)
    for table in tables:
        sheet = workbook.create_sheet(table.name[:31])
        sheet.append(list(table.columns))
        for cell in sheet[1]:
            cell.font = bold
        sheet.freeze_panes = "A2"
        formats = [_number_format(column) for column in table.columns]
        widths = [len(column) for column in table.columns]
        for row_number, row in enumerate(table.rows, start=2):
            for column_number, value in enumerate(row, start=1):
                cell = sheet.cell(row=row_number, column=column_number)
                if isinstance(value, str):
                    cell.value = value
                    # openpyxl stores a string starting with "=" as a formula; keep it text.
                    cell.data_type = "s"
                else:
                    cell.value = value
                    if (
                        formats[column_number - 1]
                        and isinstance(value, int | float)
                        and not isinstance(value, bool)
                    ):
                        cell.number_format = formats[column_number - 1]
                widths[column_number - 1] = max(
                    widths[column_number - 1], len(str(value)) if value is not None else 0
                )
        for column_number, width in enumerate(widths, start=1):
            sheet.column_dimensions[get_column_letter(column_number)].width = min(60, width + 2)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _number_format(column: str) -> str | None:
    if column.endswith(("share", "rate")) or column.startswith(("share", "traced")):
        return "0.0%"
    if column.endswith("hhi"):
        return "#,##0"
    return None


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value
