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
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
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


_PIPES = re.compile(r"^[|｜]+$")
_TRAILING_PIPE = re.compile(r"\s*[|｜]+$")
_ROW = re.compile(r"^[|｜].*[^|｜\s].*[|｜].*[|｜]$")  # two cells at least
_RULE = re.compile(r"^[|｜][-:|｜\s]+$")  # |---|:--| under a header row


def text_paragraphs(text: str) -> list[str]:
    """Non-empty lines, stripped: in these notices a blank line separates every paragraph (and
    every cell of a table a web page flattened one cell per line)."""
    return pipe_cells([line.strip() for line in text.splitlines() if line.strip()])


def pipe_cells(lines: list[str]) -> list[str]:
    """A web page's table flattened to text with ``|`` for its cell borders, as one cell per line:
    a line of pipes alone ("|", or "||||" around empty cells) is a border and goes, and so does
    the pipe ending every cell's line ("序号 |"); a row on one line between pipes is split into its
    cells, and its |---| rule goes. Empty cells are not kept: the table reader
    aligns a row's cells to its columns by what they look like."""
    ending = sum(1 for line in lines if _TRAILING_PIPE.search(line) and not _PIPES.match(line))
    rows = sum(1 for line in lines if _ROW.match(line))
    cells: list[str] = []
    for line in lines:
        if _PIPES.match(line) or (rows >= 2 and _RULE.match(line)):
            continue
        if rows >= 2 and _ROW.match(line):  # a row on one line: "| 1 | 任务 | 县水利局 |"
            cells += [cell.strip() for cell in re.split(r"[|｜]", line) if cell.strip()]
            continue
        if ending >= 3:  # a run of cells, not one line that happens to end in a pipe
            line = _TRAILING_PIPE.sub("", line)
        if line:
            cells.append(line)
    return cells


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


# Share of a notice's Chinese characters that must change to simplified for it to count as
# written in traditional script. A simplified notice changes a few (著力 → 着力 by phrase);
# a traditional one changes a fifth or more.
_TRADITIONAL_SHARE = 0.05
_HAN = re.compile(r"[\u4e00-\u9fff]")


@cache
def _t2s() -> Callable[[str], str]:
    from opencc_purepy import OpenCC  # loads its dictionaries: only when a notice is read

    return OpenCC("t2s").convert


def _simplified_line(line: str) -> str:
    """The line in simplified script, character for character (so positions carry over)."""
    converted = _t2s()(line)
    if len(converted) == len(line):
        return converted
    # A phrase converted to one of another length: convert character by character instead.
    return "".join(c if len(o := _t2s()(c)) != 1 else o for c in line)


@dataclass(frozen=True)
class Script:
    """A traditional-script notice's text in both scripts, to give back the text as printed."""

    simplified: str
    original: str

    def original_of(self, text: str) -> str:
        """``text`` (found in the simplified notice) in the notice's own characters."""
        whole = self.simplified.find(text)
        if whole >= 0:
            return self.original[whole : whole + len(text)]
        out: list[str] = []
        at = 0
        while at < len(text):
            # The longest piece of ``text`` from ``at`` that the simplified notice holds.
            end, found = at, -1
            while end < len(text) and (pos := self.simplified.find(text[at : end + 1])) >= 0:
                end, found = end + 1, pos
            if found < 0:
                out.append(text[at])  # not from the notice (a label the importer added)
                at += 1
            else:
                out.append(self.original[found : found + end - at])
                at = end
        return "".join(out)


def to_simplified(paragraphs: list[str]) -> tuple[list[str], Script | None]:
    """The paragraphs in simplified script for matching, and the way back to the original text;
    a notice in simplified script comes back unchanged, with None."""
    han = sum(len(_HAN.findall(p)) for p in paragraphs)
    simplified = [_simplified_line(p) for p in paragraphs]
    pairs = zip("".join(paragraphs), "".join(simplified), strict=True)
    changed = sum(a != b for a, b in pairs)
    if not han or changed / han < _TRADITIONAL_SHARE:
        return paragraphs, None
    joined = "".join(compact(p) for p in simplified)
    return simplified, Script(joined, "".join(compact(p) for p in paragraphs))
