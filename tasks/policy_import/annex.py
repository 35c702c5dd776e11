"""Task tables (重点任务清单) in a notice: a header row, then one row per task.

A table reaches the importer flattened one cell per line, from a .txt (as copied out of the
PDF or Word file) or from a .docx (``text.read_document`` writes each table row's cells on
lines, empty cells as empty lines, a cell merged down rows repeated in every row it spans).
The header is 序号 followed by known column names (任务 / 责任单位 or 牵头单位 and 配合单位 /
完成时限 …); each row starts with the next 序号. A flattened .txt row may lack cells (an empty
cell, or a cell spanning rows printed once) or hold more lines than columns (a cell of several
lines): its cells are aligned to the columns by what they look like, and a missing unit,
category or deadline cell follows the row above.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from enum import Enum

from tasks.policy_import.sections import (
    MeasureNode,
    SectionNode,
    cn_numeral,
    looks_like_units_text,
)
from tasks.policy_import.targets import Deadline, find_deadline
from tasks.policy_import.text import compact


class Column(Enum):
    number = "number"
    category = "category"
    task = "task"
    responsible = "responsible"
    lead = "lead"
    support = "support"
    deadline = "deadline"
    other = "other"


_PERSONS = re.compile(r"领导$|负责人$|联系人$")
# Header cell -> column kind; first match wins (配合单位 before 单位).
_HEADERS: list[tuple[re.Pattern[str], Column]] = [
    (re.compile(r"^(?:序号|编号)$"), Column.number),
    (_PERSONS, Column.other),  # persons (钱 宇), not units
    (re.compile(r"(?:牵头|主责)(?:单位|部门)"), Column.lead),
    (re.compile(r"(?:配合|协办|参与|协同)(?:单位|部门)"), Column.support),
    (re.compile(r"(?:责任|承办|实施)(?:单位|部门|主体)"), Column.responsible),
    (re.compile(r"时限|时间|进度|节点|期限"), Column.deadline),
    (re.compile(r"任务|措施|举措|内容|事项|工作要求|^重点工作$|预期目标$"), Column.task),
    (re.compile(r"^(?:类别|分类|领域|板块|类型|方面|项目类别|任务类别)$"), Column.category),
]
_UNIT_COLUMNS = (Column.responsible, Column.lead, Column.support)
_CN = "[一二三四五六七八九十]{1,3}"
_HEADING_ROW = re.compile(rf"^(?:{_CN}、|[（(]{_CN}[)）])")
_DATE_LIKE = re.compile(r"\d{4}|[年月日底季]|长期|持续|常态|前$|完成|年度")
_END = re.compile(r"^(?:附件\s*\d|抄送|本文件由|[（(]此件)")


@dataclass
class TaskRow:
    number: str  # 序号 as printed
    task: str
    category: str = ""
    units: str = ""  # for the units parser: "牵头单位：…；配合单位：…" or "责任单位：…"
    deadline: str = ""  # the 完成时限 cell as printed
    other: list[str] = field(default_factory=list)  # "工作目标：…" for any other column
    followed: list[str] = field(default_factory=list)  # headers filled from the row above


@dataclass
class TaskTable:
    start: int  # index of the first header line in the paragraphs
    end: int  # exclusive
    title: str  # the line before the header (the annex's title), "" if none
    columns: list[Column]
    headers: list[str]
    rows: list[TaskRow]


def column_of(header: str) -> Column | None:
    """The kind of a header cell; None when the line is not a column name."""
    header = re.sub(r"^\d{4}年度?", "", compact(header))  # 2022年预期目标
    if (
        len(header) > 8
        or re.search(r"[。；;，,：:]", header)
        or re.match(r"\d|[一二三四五六七八九十]+、", header)
    ):
        return None
    for pattern, column in _HEADERS:
        if pattern.search(header):
            return column
    return Column.other if 2 <= len(header) <= 6 and not header.isdigit() else None


@dataclass(frozen=True)
class _Header:
    columns: list[Column]
    names: list[str]
    lines: int  # how many lines it takes: a PDF may break a header cell (牵头 / 单位)


def _header_at(lines: list[str], at: int) -> _Header | None:
    """The header starting at ``at`` (序号 first), None if there is none."""
    if column_of(lines[at]) is not Column.number:
        return None
    header = _header_cells(lines, at + 1)
    columns = [Column.number, *header.columns]
    if Column.task in columns and any(c in columns for c in _UNIT_COLUMNS):
        return _Header(columns, [compact(lines[at]), *header.names], header.lines + 1)
    return None


def _header_cells(lines: list[str], at: int) -> _Header:
    """The column names from ``at`` on, joining a name a PDF broke over two lines."""
    columns: list[Column] = []
    names: list[str] = []
    index = at
    while index < len(lines) and len(columns) < 10:
        line = compact(lines[index])
        joined = line + compact(lines[index + 1]) if index + 1 < len(lines) else ""
        if (
            column_of(line) in (None, Column.other)
            and not _PERSONS.search(line)  # 责任领导 then 责任单位: two columns
            and column_of(joined)
            not in (
                None,
                Column.other,
                Column.number,
            )
        ):
            line, index = joined, index + 1
        column = column_of(line)
        if column is None or column is Column.number:
            break
        columns.append(column)
        names.append(line)
        index += 1
    return _Header(columns, names, index - at)


def find_task_tables(lines: list[str]) -> list[TaskTable]:
    """The task tables among a notice's paragraphs, in order."""
    tables: list[TaskTable] = []
    at = 0
    while at < len(lines):
        header = _header_at(lines, at)
        if header is None:
            other = _spaced_table(lines, at) or _unnumbered_table(lines, at)
            if other is not None:
                tables.append(other)
                at = other.end
            else:
                at += 1
            continue
        table = _read_table(lines, at, header)
        if table.rows:
            tables.append(table)
            at = table.end
        else:
            at += 1
    return tables


def _spaced_table(lines: list[str], start: int) -> TaskTable | None:
    """A table whose rows are lines with cells separated by spaces (a PDF's text layer):
    "序号 类别 主要任务 牵头单位 …", then "1 … …" per row, a row's wrapped text on the lines
    after it."""
    header = lines[start].split()
    if len(header) < 3 or column_of(header[0]) is not Column.number:
        return None
    columns = [column_of(cell) for cell in header]
    if None in columns:
        return None
    kinds = [c for c in columns if c is not None]
    if Column.task not in kinds or not any(c in kinds for c in _UNIT_COLUMNS):
        return None
    chunks: list[tuple[str, list[str]]] = []
    at = start + 1
    while at < len(lines):
        line = lines[at].strip()
        row = re.match(rf"^{len(chunks) + 1}[.．、]?(?P<gap>\s+)(?P<rest>.*)$", line)
        if row:
            # Two spaces after the number: the first cell is empty (merged with the row above).
            cells = [""] if len(row["gap"]) >= 2 else []
            chunks.append((str(len(chunks) + 1), cells + _spaced_cells(row["rest"])))
        elif chunks and not _END.match(line) and _spaced_table(lines, at) is None:
            chunks[-1][1].extend(_spaced_cells(line))
        else:
            break
        at += 1
    if not chunks:
        return None
    rows = _rows(chunks, kinds, header, spaced=True)
    return TaskTable(start, at, _title(lines[max(0, start - 2) : start]), kinds, header, rows)


_NUMBERED_CELL = re.compile(
    rf"^(?:(?P<part>{_CN}、)|(?P<sub>[（(]{_CN}[)）])|(?P<item>\d{{1,3}}[.．、](?!\d)))"
)


def _unnumbered_table(lines: list[str], start: int) -> TaskTable | None:
    """A table without a 序号 column (重点工作 / 主要任务 / 工作措施 / 责任单位 / 备注) whose
    task cells carry their own numbering (一、 / （一） / 1.): a row ends with its unit cells
    and the short cells after them; the next numbered cell starts the next row. A category cell
    (一、) is printed once for the rows under it; the row's task is its deepest numbered cell."""
    if start and column_of(lines[start - 1]) not in (None, Column.number):
        return None  # inside a header already tried
    header = _header_cells(lines, start)
    kinds = header.columns
    if len(kinds) < 3 or Column.task not in kinds or not any(c in kinds for c in _UNIT_COLUMNS):
        return None
    unit_columns = [c for c in kinds if c in _UNIT_COLUMNS]
    after_start = max(i for i, c in enumerate(kinds) if c in _UNIT_COLUMNS) + 1
    after_units = kinds[after_start:]
    groups: list[tuple[list[str], list[str], list[str]]] = []  # (before, units, after)
    before: list[str] = []
    units: list[str] = []
    after: list[str] = []
    at = start + header.lines
    while at < len(lines):
        line = compact(lines[at])
        numbered = _NUMBERED_CELL.match(line) is not None
        if _END.match(line) or (units and not numbered and len(after) >= len(after_units)):
            break
        if units and numbered:
            groups.append((before, units, after))
            before, units, after = [], [], []
        if not numbered and not after and looks_like_units_text(line):
            units.append(line)
        elif units:
            after.append(line)
        else:
            before.append(line)
        at += 1
    if units:
        groups.append((before, units, after))
    elif before:
        at -= len(before)  # numbered text with no units after it is not the table's
    if not groups:
        return None
    rows: list[TaskRow] = []
    category = ""
    task_at = kinds.index(Column.task)
    # Columns between the task and the units (牵头领导: persons) take the cells after the task.
    first_unit = min(i for i, c in enumerate(kinds) if c in _UNIT_COLUMNS)
    between = header.names[task_at + 1 : first_unit]
    for number, (cells, unit_cells, rest) in enumerate(groups, 1):
        items = [i for i, cell in enumerate(cells) if _NUMBERED_CELL.match(cell)]
        task_index = items[-1] if items and between else len(cells) - 1
        for cell in cells[:task_index]:
            match = _NUMBERED_CELL.match(cell)
            if match and match["part"]:
                category = cell[match.end() :]
        task = cells[task_index] if cells else ""
        match = _NUMBERED_CELL.match(task)
        persons = [c for c in cells[task_index + 1 :] if c]
        unit_text = "；".join(
            unit_cell(column, text) for column, text in zip(unit_columns, unit_cells, strict=False)
        )
        deadline = ""
        if Column.deadline in after_units:
            deadline = next((c for c in rest if _fit(c, Column.deadline) > 0), "")
        names = [
            name
            for name, column in zip(header.names[after_start:], after_units, strict=True)
            if column is not Column.deadline
        ]
        cells = [c for c in rest if c != deadline]
        other = [f"{name}：{cell}" for name, cell in zip(names, cells, strict=False)]
        if persons and between:
            other.insert(0, f"{between[0]}：{'、'.join(persons)}")
        rows.append(
            TaskRow(
                number=str(number),
                task=task[match.end() :] if match else task,
                category=category,
                units=unit_text,
                deadline=deadline,
                other=other,
            )
        )
    if start and column_of(lines[start - 1]) is Column.number:
        start -= 1  # a 序号 column whose cells are not the rows' numbers (1 for rows 1.…11.)
    title = _title(lines[max(0, start - 2) : start])
    return TaskTable(start, at, title, [*kinds], header.names, rows)


def _spaced_cells(line: str) -> list[str]:
    """Space-separated pieces; a lone character is a word the PDF broke (保 护)."""
    cells: list[str] = []
    for piece in line.split():
        if len(piece) == 1 and cells and cells[-1]:
            cells[-1] += piece
        else:
            cells.append(piece)
    return cells


def _row_number(line: str, expected: int) -> bool:
    return re.fullmatch(rf"{expected}[.．、]?", compact(line)) is not None


def _read_table(lines: list[str], start: int, header: _Header) -> TaskTable:
    columns, headers = header.columns, header.names
    title = _title(lines[max(0, start - 2) : start])
    at = start + header.lines
    chunks: list[tuple[str, list[str]]] = []  # (序号, cells)
    while at < len(lines) and _row_number(lines[at], len(chunks) + 1):
        number = compact(lines[at]).rstrip(".．、")
        at += 1
        cells: list[str] = []
        while at < len(lines) and not _row_number(lines[at], len(chunks) + 2):
            line = compact(lines[at])
            if _END.match(line) or _header_at(lines, at) is not None:
                break
            cells.append(line)
            at += 1
        chunks.append((number, cells))
    if chunks:
        number, cells = chunks[-1]
        length = _last_row_length(cells, columns[1:])
        at -= len(cells) - length
        chunks[-1] = (number, cells[:length])
    rows = _rows(chunks, columns, headers, spaced=False)
    return TaskTable(start, at, title, columns, headers, rows)


def _rows(
    chunks: list[tuple[str, list[str]]], columns: list[Column], headers: list[str], spaced: bool
) -> list[TaskRow]:
    rows: list[TaskRow] = []
    category = ""
    previous: dict[Column, str] = {}
    for number, cells in chunks:
        # A category heading row printed between two rows (一、产业发展) ends the cells before it.
        heading = ""
        if len(cells) > 1 and _HEADING_ROW.match(cells[-1]):
            heading = cells.pop()
        row, previous = _row(
            number, cells, columns[1:], headers[1:], previous, category, spaced=spaced
        )
        rows.append(row)
        if heading:
            category = _HEADING_ROW.sub("", heading)
            previous.pop(Column.category, None)
    return rows


def _fit(cell: str, column: Column) -> float:
    """How well a cell fits a column, by what it looks like."""
    if column is Column.deadline:
        return 3.0 if len(cell) <= 30 and _DATE_LIKE.search(cell) else -3.0
    if column in _UNIT_COLUMNS:
        return 3.0 if looks_like_units_text(cell) else -3.0
    if column is Column.task:
        return 1.0 if len(cell) >= 6 else 0.0
    return 0.0


def _empty_cost(column: Column, previous: dict[Column, str]) -> float:
    """The cost of a column without a cell in this row."""
    if column is Column.task:
        return 6.0
    if column in previous:
        # A cell spanning rows, printed once in the first of them; most often the 牵头单位 of
        # several tasks, each with its own 配合单位.
        return 0.3 if column is Column.lead else 0.5
    return 1.0


def _align(
    cells: list[str], columns: list[Column], previous: dict[Column, str], spaced: bool = False
) -> list[str]:
    """The text of each column: cells in order, each column taking a run of them (maybe none).

    ``spaced``: the cells are space-separated pieces, so a column often takes several; an
    empty piece is an empty cell and stands alone."""
    if _as_printed(cells, columns, spaced):
        return cells
    _, choice = _scores(cells, columns, previous, spaced)
    texts = [""] * len(columns)
    i = len(cells)
    for j in range(len(columns), 0, -1):
        take = choice[j][i]
        texts[j - 1] = "".join(cells[i - take : i])
        i -= take
    return texts


def _as_printed(cells: list[str], columns: list[Column], spaced: bool) -> bool:
    """A row with a cell per column is taken as printed when it is a Word table's (its empty
    cells are empty lines) or every cell fits its column; else a merged cell may be missing
    while another cell has two lines."""
    if spaced or len(cells) != len(columns):
        return False
    return "" in cells or all(_fit(c, col) >= 0 for c, col in zip(cells, columns, strict=True))


def _scores(
    cells: list[str], columns: list[Column], previous: dict[Column, str], spaced: bool
) -> tuple[list[list[float]], list[list[int]]]:
    """best[j][i]: the best score of columns[:j] holding cells[:i], and the run that gives it."""
    n, k = len(columns), len(cells)
    inf = float("-inf")
    best = [[inf] * (k + 1) for _ in range(n + 1)]
    choice = [[0] * (k + 1) for _ in range(n + 1)]
    best[0][0] = 0.0
    for j, column in enumerate(columns):
        for i in range(k + 1):
            if best[j][i] == inf:
                continue
            for take in range(0, k - i + 1):
                if take == 0:
                    score = -_empty_cost(column, previous)
                elif take > 1 and "" in cells[i : i + take]:
                    continue
                elif cells[i] == "" and take == 1:
                    score = -_empty_cost(column, previous)
                else:
                    run = "".join(cells[i : i + take])
                    many = 0.5 if column is Column.task or spaced else 4.0
                    score = _fit(run, column) - (take - 1) * many
                if best[j][i] + score > best[j + 1][i + take]:
                    best[j + 1][i + take] = best[j][i] + score
                    choice[j + 1][i + take] = take
    return best, choice


def _last_row_length(cells: list[str], columns: list[Column]) -> int:
    """How many of the lines after the last row's number are its cells: those that fit the
    columns best; what follows is the document's text (a signature, the next annex)."""
    best, _ = _scores(cells, columns, {}, spaced=False)
    scores = best[len(columns)]
    return max(range(1, len(cells) + 1), key=lambda i: (scores[i], -i), default=0)


def _row(
    number: str,
    cells: list[str],
    columns: list[Column],
    headers: list[str],
    previous: dict[Column, str],
    category: str,
    spaced: bool = False,
) -> tuple[TaskRow, dict[Column, str]]:
    texts = _align(cells, columns, previous, spaced)
    # A row with a cell per column is as printed (a Word table writes its empty cells): an
    # empty cell is empty. Otherwise a missing cell is one spanning rows from above.
    exact = _as_printed(cells, columns, spaced)
    values: dict[Column, str] = {}
    other: list[str] = []
    followed: list[str] = []
    for column, header, text in zip(columns, headers, texts, strict=True):
        if column is not Column.task and not text and not exact and previous.get(column):
            text = previous[column]
            if column is not Column.category:  # a category spanning its rows is the rule
                followed.append(header)
        if column is Column.other:
            if text:
                other.append(f"{header}：{text}")
        elif text and column in values:  # 主要任务 then 细化措施: the first is the title
            sep = "" if values[column].endswith(("。", "；", "！")) else "。"
            values[column] += sep + text
        elif text:
            values[column] = text
    units = [  # in the table's column order
        unit_cell(column, values[column])
        for column in dict.fromkeys(columns)
        if column in _LABELS and column in values
    ]
    row = TaskRow(
        number=number,
        task=values.get(Column.task, ""),
        category=values.get(Column.category, category),
        units="；".join(units),
        deadline=values.get(Column.deadline, ""),
        other=other,
        followed=followed,
    )
    return row, {c: v for c, v in values.items() if c is not Column.task}


_LABELS = {Column.responsible: "责任", Column.lead: "牵头", Column.support: "配合"}
_STAR = re.compile(r"^[★☆]\s*")


def unit_cell(column: Column, text: str) -> str:
    """A unit cell for the units parser, labelled by its column. A name marked ★ or ☆ leads (such
    tables mark the lead unit so, the legend often left off the page): "★区发改委、统计局" is
    "牵头单位：区发改委；责任单位：统计局"."""
    names = re.split(r"[、，,；;]", text)
    if not any(_STAR.match(name) for name in names):
        return f"{_LABELS[column]}单位：{text}"
    lead = [_STAR.sub("", name) for name in names if _STAR.match(name)]
    rest = [name for name in names if name and not _STAR.match(name)]
    label = "责任" if column is Column.lead else _LABELS[column]
    return f"牵头单位：{'、'.join(lead)}" + (f"；{label}单位：{'、'.join(rest)}" if rest else "")


def column_deadline(text: str, issued: date) -> Deadline | None:
    """The date a 完成时限 cell sets: "2024年6月" and "2025年" mean the end of that month/year."""
    text = compact(text)
    deadline = find_deadline(text, issued, [])
    if deadline is not None or not text:
        return deadline
    bare = re.fullmatch(r"(\d{4}年(?:\d{1,2}月)?)(?:前|底)?", text)
    if bare:
        resolved = find_deadline(f"{bare[1]}底前", issued, [])
        if resolved is not None:
            return Deadline(resolved.due, text, resolved.review)
    if re.fullmatch(r"\d{1,2}月(?:\d{1,2}日|底|末)?前?", text):
        resolved = find_deadline(f"{issued.year}年{text}", issued, [])
        if resolved is not None:
            note = f"完成时限“{text}”未写年份，按印发年份{issued.year}年推定，请确认"
            return Deadline(resolved.due, text, note)
    return None


def _title(before: list[str]) -> str:
    """The table's title: the line before the header, without its 附件N label."""
    for line in reversed(before):
        title = re.sub(r"^附件\s*\d*\s*[:：]?", "", compact(line))
        if title.startswith(("(", "（")) and title.endswith((")", "）")):
            continue  # (共118项)
        if title and len(title) <= 60 and not title.endswith(("。", "；")):
            return title
    return ""


def table_nodes(
    tables: list[TaskTable], first_number: int
) -> tuple[list[SectionNode], list[MeasureNode], list[str]]:
    """A section per table (and per category), a measure per row, numbered on from the body's,
    and what to review."""
    sections: list[SectionNode] = []
    measures: list[MeasureNode] = []
    review: list[str] = []
    number = first_number
    for index, table in enumerate(tables, 1):
        table_id = "附件" if len(tables) == 1 else f"附件{index}"
        title = table.title or "重点任务清单"
        sections.append(SectionNode(table_id, title, None, None, table.title))
        categories: dict[str, str] = {}
        for row in table.rows:
            section = table_id
            if row.category:
                if row.category not in categories:
                    sub = f"{table_id}({cn_numeral(len(categories) + 1)})"
                    categories[row.category] = sub
                    sections.append(SectionNode(sub, row.category, table_id, None, row.category))
                section = categories[row.category]
            body = row.task + (f"（{row.units}）" if row.units else "")
            node = MeasureNode(str(number), section, row.number, body)
            node.deadline_text = row.deadline
            node.note = "；".join(row.other)
            measures.append(node)
            if row.followed:
                review.append(
                    f"第{number}条（{table.title or '任务表'}序号{row.number}）："
                    f"{'、'.join(row.followed)}原文此行空缺，按上一行（合并单元格）填写，请核对"
                )
            number += 1
    return sections, measures, review
