"""Text of a county notice: reading .txt/.docx, compacting spaces, repairing page-break artifacts.

A notice converted from PDF keeps the page breaks as blank lines that may fall inside a word, a
unit name or a bracket, and puts ASCII spaces around numbers and Latin letters. The functions
here return paragraphs as printed (blank lines dropped); joining the pieces of one measure is the
section parser's job, because only it knows where a measure ends.
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

from config.errors import ConfigError

if TYPE_CHECKING:
    from docx.table import Table

MAX_DOCX_UNPACKED = 50 * 1024 * 1024  # a notice is a few hundred kB; refuse zip bombs

# A space between two ASCII letters/digits may separate words ("Hello World"); elsewhere it is a
# PDF-conversion artifact ("达到 160 万吨", "A 级", "28. 畅通").
_SPACE = re.compile(r"[ \t\u00a0\u3000]+")
_ALNUM = re.compile(r"[A-Za-z0-9]")

# A responsibility bracket whose opening was split from its label: "〔责" + "责任单位：…".
_SPLIT_LABEL = re.compile(r"([〔【\[（(])\s*(?:责任?单?)(?=责任单位)")


def read_document(file: Path) -> list[str]:
    """The non-empty paragraphs of a .txt (UTF-8 or GB18030) or .docx notice, as printed."""
    try:
        data = file.read_bytes()
    except FileNotFoundError:
        raise ConfigError(file, "", "文件不存在") from None
    except OSError as exc:
        raise ConfigError(file, "", f"无法读取：{exc.strerror or exc}") from None
    if file.suffix.lower() == ".docx" or data[:2] == b"PK":
        return docx_paragraphs(data, file)
    for codec in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(codec)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise ConfigError(file, "", "不是 UTF-8 或 GB18030 编码的文本文件")
    return text_paragraphs(text)


def text_paragraphs(text: str) -> list[str]:
    """Non-empty lines, stripped: in these notices a blank line separates every paragraph."""
    return [line.strip() for line in text.splitlines() if line.strip()]


def docx_paragraphs(data: bytes, file: Path) -> list[str]:
    """Paragraphs and table cells of a Word .docx in document order; an unreadable file is the
    user's error."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            if sum(i.file_size for i in archive.infolist()) > MAX_DOCX_UNPACKED:
                raise ConfigError(file, "", "Word 文件解压后过大，无法读取")
        import docx  # python-docx; imported here: only .docx notices need it
        from docx.table import Table

        document = docx.Document(io.BytesIO(data))
    except ConfigError:
        raise
    except Exception:  # python-docx raises many kinds for corrupt, encrypted or non-Word files
        raise ConfigError(file, "", "无法读取 Word 文件（文件损坏、加密或不是 .docx）") from None
    lines: list[str] = []
    for block in document.iter_inner_content():  # paragraphs and tables in document order
        if isinstance(block, Table):
            lines += table_lines(block)
        elif block.text.strip():
            lines.append(block.text.strip())
    if not any(lines):
        raise ConfigError(file, "", "Word 文件中没有文字")
    return lines


def table_lines(table: Table) -> list[str]:
    """A Word table flattened as a task table is copied out of a PDF: one cell per line, row by
    row. A cell merged across columns is written once; one merged down rows is written in each
    row it spans (python-docx gives the spanning cell for every row); a cell's own line breaks
    are joined."""
    lines: list[str] = []
    for row in table.rows:
        seen: list[object] = []
        for cell in row.cells:
            if any(cell._tc is tc for tc in seen):
                continue
            seen.append(cell._tc)
            # An empty cell is an empty line: the table reader then knows the row is whole.
            lines.append("".join(t.strip() for t in cell.text.splitlines()))
    return lines


def compact(text: str) -> str:
    """Remove conversion spaces, keeping one between two ASCII letters or digits."""

    def keep(match: re.Match[str]) -> str:
        start, end = match.start(), match.end()
        before = text[start - 1] if start else ""
        after = text[end] if end < len(text) else ""
        return " " if _ALNUM.match(before) and _ALNUM.match(after) else ""

    return _SPACE.sub(keep, text).strip()


def repair_brackets(text: str) -> str:
    """Rejoin a responsibility bracket split across a page break (〔责 / 责任单位：…)."""
    return _SPLIT_LABEL.sub(r"\1", text)
