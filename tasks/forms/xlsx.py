"""Writing a workbook deterministically: the same workbook and moment give the same bytes.

openpyxl's ``Workbook.save`` stamps "modified" with the clock, and the zip entries of its
worksheets carry the mtimes of temporary files. The forms (``tasks/forms/build.py``) and the
consolidation workbooks (``tasks/consolidation/workbook.py``, ``annual_outputs.py``) are saved
here instead, with every time taken from one given moment.
"""

from __future__ import annotations

import io
import unicodedata
import zipfile
from datetime import UTC, datetime

from openpyxl import Workbook
from openpyxl.writer.excel import ExcelWriter

from tasks.calendar import SHANGHAI


def display_width(text: str) -> int:
    """Width in Excel column units: a CJK character takes two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


class FixedTimeZip(zipfile.ZipFile):
    """A zip whose entries carry one fixed timestamp, so equal workbooks give equal bytes."""

    def __init__(self, file: io.BytesIO, stamp: tuple[int, int, int, int, int, int]) -> None:
        super().__init__(file, "w", zipfile.ZIP_DEFLATED)
        self._stamp = stamp

    def write(  # type: ignore[override]
        self,
        filename: str,
        arcname: str | None = None,
        compress_type: int | None = None,
        compresslevel: int | None = None,
    ) -> None:
        # openpyxl writes each worksheet through a temporary file, whose mtime would leak in.
        with open(filename, "rb") as handle:
            data = handle.read()
        self.writestr(arcname or filename, data, compress_type, compresslevel)

    def writestr(  # type: ignore[override]
        self,
        zinfo_or_arcname: str | zipfile.ZipInfo,
        data: bytes | str,
        compress_type: int | None = None,
        compresslevel: int | None = None,
    ) -> None:
        if isinstance(zinfo_or_arcname, zipfile.ZipInfo):
            info = zinfo_or_arcname
        else:
            info = zipfile.ZipInfo(zinfo_or_arcname, date_time=self._stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o600 << 16
        super().writestr(info, data, compress_type, compresslevel)


def save_deterministic(wb: Workbook, out: io.BytesIO, as_of: datetime) -> None:
    """Write ``wb`` to ``out`` with its times fixed to ``as_of``: equal workbooks, equal bytes."""
    stamp_utc = as_of.astimezone(UTC).replace(tzinfo=None, microsecond=0)
    wb.properties.created = wb.properties.modified = stamp_utc
    wb.properties.creator = wb.properties.lastModifiedBy = "taskforce"
    local = as_of.astimezone(SHANGHAI)
    stamp = (max(local.year, 1980), local.month, local.day, local.hour, local.minute, local.second)
    # ExcelWriter instead of wb.save: save() stamps "modified" with the clock; the zip entries
    # carry one fixed time instead of the temporary files' mtimes.
    ExcelWriter(wb, FixedTimeZip(out, stamp)).save()
