"""Section tree and numbered measures of a notice's body.

Numbering: 一、 (part) / （一） (sub-part) / 1. or 1、 (measure) / (1) (sub-item). A heading is
accepted only when its number continues the sequence, so a sentence starting with a number is not
mistaken for a heading; a heading glued to the end of the previous paragraph is split off. All
paragraphs between two headings belong to the first: that is what repairs page breaks.

Measure level: within each part, the deepest numbered level that carries units holds the
measures. Usually that is 1.; where more of a part's （一） sub-parts carry units (in their own
text) than its 1. items do, the sub-parts are the measures (their 1. items stay in the text).
A part where no level carries units keeps its 1. items as measures, unless the notice's tasks
are elsewhere (an annex task table): then they are section text.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from tasks.policy_import.text import compact, repair_brackets
from tasks.policy_import.units import CLOSERS, UNIT_LIKE, UnitNames, find_bracket

NUMERALS = "一二三四五六七八九十"
_CN = r"[一二三四五六七八九十]{1,3}"
_PART = re.compile(rf"^(?P<n>{_CN})\s*、\s*(?P<rest>.*)$")
_SUBPART = re.compile(rf"^[（(]\s*(?P<n>{_CN})\s*[)）]\s*(?P<rest>.*)$")
_MEASURE = re.compile(r"^(?P<n>\d{1,3})\s*[.．、](?!\d)\s*(?P<rest>.*)$")
_ITEM = re.compile(r"^[（(]\s*(?P<n>\d{1,2})\s*[)）]\s*(?P<rest>.*)$")
_GROUP_NOTE = re.compile(r"[（(](?P<group>[^（）()]{1,20}?(?:专班|专项推进组|工作组))负责[)）]$")
# Names a unit list holds beyond UNIT_LIKE's: towns, streets, groups of companies, and the
# collective addressees (相关沿海街镇, 各岸段使用或管理单位, 各区属集团).
_UNIT_LIKE_MORE = re.compile(
    r"^(?:.{1,30}(?:镇|乡|街道|街镇|集团|企业|园区)|(?:各|相关|有关).{1,20})$"
)
_ROLE_WORDS = re.compile(r"(?:牵头负责|牵头|配合|协助|参加|参与|共同负责|按职责分工负责|负责)$")
_LABEL_LINE = re.compile(
    r"(?:责任|牵头|主责)(?:单位|部门)\s*[:：](?P<units>[^。:：]{2,200}?)[。；;]?$"
)
_LEAD_HEADING = re.compile(r"^(?P<units>[^，,。；;]{2,40}?)牵头(?:负责)?的?(?:重点)?(?:工作|任务)")
# Remarks inside a unit list: "排名第一位为牵头单位", "下同";
# and the pieces of a shared name: 各县、市、区政府.
_LIST_RULE = re.compile(
    r"^(?:(?:排名|排在|排列|列)?第一(?:位|个)?(?:者|的)?为牵头(?:单位|部门)|下同|以下同|[省市县区镇乡])$"
)
# Where the body ends: the annex, the 抄送 line, the note on who interprets the document.
_BODY_END = re.compile(r"^(?:附件|抄送|本文件由|[（(]此件)")


def cn_number(text: str) -> int:
    """一 → 1 … 十四 → 14, 二十 → 20 (the range section numbers use)."""
    if text == "十":
        return 10
    if text.startswith("十"):
        return 10 + NUMERALS.index(text[1]) + 1
    if "十" in text:
        tens, _, ones = text.partition("十")
        return (NUMERALS.index(tens) + 1) * 10 + (NUMERALS.index(ones) + 1 if ones else 0)
    return NUMERALS.index(text) + 1


def cn_numeral(number: int) -> str:
    """Inverse of cn_number for 1…99."""
    tens, ones = divmod(number, 10)
    head = "" if tens == 0 else ("十" if tens == 1 else NUMERALS[tens - 1] + "十")
    return head + (NUMERALS[ones - 1] if ones else "")


@dataclass
class SectionNode:
    id: str
    title: str
    parent: str | None
    group: str | None  # the 专班 the heading names, e.g. 金融业专班
    heading: str  # the heading as printed (compacted), numbering included
    text: str = ""  # paragraphs of the section that are not measures (e.g. 指导思想)


@dataclass
class MeasureNode:
    number: str
    section: str
    heading: str  # numbering as printed, e.g. "1."
    body: str = ""  # everything after the numbering, page breaks joined, bracket included
    deadline_text: str = ""  # a task table's 完成时限 cell
    note: str = ""  # a task table's other columns ("工作目标：…")

    @property
    def parent_number(self) -> str | None:
        return self.number.split("(")[0] if "(" in self.number else None


@dataclass
class Body:
    preamble: str
    sections: list[SectionNode] = field(default_factory=list)
    measures: list[MeasureNode] = field(default_factory=list)
    consumed: str = ""  # the compacted body text, in order, for the no-text-lost check
    renumbered: bool = False  # parts numbered their measures from 1: numbers run on instead
    subpart_level: list[str] = field(default_factory=list)  # parts whose （一） are measures


class _Parser:
    def __init__(
        self,
        subpart_measures: frozenset[str] = frozenset(),
        no_measures: frozenset[str] = frozenset(),
    ) -> None:
        # Part ids whose （一） sub-parts are the measures, and those without measures.
        self.subpart_measures = subpart_measures
        self.no_measures = no_measures
        self.body = Body(preamble="")
        self.part: SectionNode | None = None
        self.subpart: SectionNode | None = None
        self.last_part = 0
        self.last_subpart = 0
        self.last_measure = 0  # as printed: restarts at 1 where a notice numbers per part
        self.measure_count = 0  # across the notice: measure numbers must be unique
        self.new_section = False  # a heading came since the last measure: 1. may restart
        self.last_item = 0
        self.target: SectionNode | MeasureNode | None = None

    def expected(self) -> list[str]:
        """Headings that may come next, as prefixes to split glued text on.

        Two steps ahead, because the paragraph may itself start with the next heading
        ("1. 做事。2. 再做事。").
        """
        candidates: list[str] = []
        for step in (1, 2):
            measure = self.last_measure + step
            candidates += [f"{measure}.", f"{measure}、", f"{measure}．"]
            candidates.append(f"{cn_numeral(self.last_part + step)}、")
            if self.new_section and step == 1:
                candidates += ["1.", "1、", "1．"]
            if self.last_measure:
                candidates += [f"（{self.last_item + step}）", f"({self.last_item + step})"]
            numeral = cn_numeral(self.last_subpart + step)
            candidates += [f"（{numeral}）", f"({numeral})"]
        return candidates

    def split_glued(self, line: str) -> list[str]:
        """Split a paragraph where a sentence end is followed by an expected heading."""
        points = []
        for prefix in self.expected():
            at = line.find(prefix, 1)
            while at > 0:
                after = line[at + len(prefix) : at + len(prefix) + 1]
                if line[at - 1] in "。〕]）)」”;；" and not after.isdigit():
                    points.append(at)
                    break
                at = line.find(prefix, at + 1)
        if not points:
            return [line]
        at = min(points)
        return [line[:at], line[at:]]

    def feed(self, line: str) -> None:
        first, *rest = self.split_glued(line)
        self.feed_one(first)
        if rest:
            self.feed(rest[0])  # with the state after the first piece: it may hold another

    def feed_one(self, line: str) -> None:
        self.body.consumed += line
        if (m := _PART.match(line)) and cn_number(m["n"]) == self.last_part + 1:
            self.last_part += 1
            title, group = _title_and_group(m["rest"])
            self.part = SectionNode(m["n"], title, None, group, line)
            self.subpart = None
            self.new_section = True
            self.body.sections.append(self.part)
            self.target = self.part
            return
        if (
            self.part is not None
            and (m := _SUBPART.match(line))
            and cn_number(m["n"]) in (self.last_subpart + 1, 1)
        ):
            self.last_subpart = cn_number(m["n"])
            if self.part.id in self.subpart_measures:
                self.subpart_measure(line, m)
                return
            title, group = _title_and_group(m["rest"])
            self.subpart = SectionNode(
                f"{self.part.id}({m['n']})", title, self.part.id, group, line
            )
            self.new_section = True
            self.body.sections.append(self.subpart)
            self.target = self.subpart
            return
        section = self.subpart or self.part
        if self.part is not None and self.part.id in self.subpart_measures | self.no_measures:
            self.append(line)  # 1. and (1) items of these parts are text
            return
        m = _MEASURE.match(line) if section is not None else None
        restart = m is not None and m["n"] == "1" and self.new_section
        if section is not None and m and (int(m["n"]) == self.last_measure + 1 or restart):
            self.last_measure = int(m["n"])
            self.measure_count += 1
            self.new_section = False
            self.last_item = 0
            heading = line[: len(line) - len(m["rest"])]
            if self.last_measure != self.measure_count:
                self.body.renumbered = True
            measure = MeasureNode(str(self.measure_count), section.id, heading, m["rest"])
            self.body.measures.append(measure)
            self.target = measure
            return
        m = _ITEM.match(line) if self.measure_count and not self.new_section else None
        if section is not None and m and int(m["n"]) == self.last_item + 1:
            self.last_item += 1
            heading = line[: len(line) - len(m["rest"])]
            parent = str(self.measure_count)
            measure = MeasureNode(f"{parent}({m['n']})", section.id, heading, m["rest"])
            self.body.measures.append(measure)
            self.target = measure
            return
        self.append(line)

    def append(self, line: str) -> None:
        if isinstance(self.target, MeasureNode):
            self.target.body += line
        elif isinstance(self.target, SectionNode):
            self.target.text += line
        else:
            self.body.preamble += line

    def subpart_measure(self, line: str, m: re.Match[str]) -> None:
        """A （一） heading at the measure level: a measure of its part, numbered on."""
        assert self.part is not None
        self.measure_count += 1
        if cn_number(m["n"]) != self.measure_count:
            self.body.renumbered = True
        heading = line[: len(line) - len(m["rest"])]
        measure = MeasureNode(str(self.measure_count), self.part.id, heading, m["rest"])
        self.subpart = None
        self.new_section = False
        self.body.measures.append(measure)
        self.target = measure


def _title_and_group(rest: str) -> tuple[str, str | None]:
    match = _GROUP_NOTE.search(rest)
    if match:
        return rest[: match.start()].strip(), match["group"]
    return rest.strip(), None


def looks_like_units_text(content: str) -> bool:
    """True when a bracket's or line's content is a unit list, judged without a directory."""
    content = re.sub(r"^(?:责任|牵头|主责|配合)单位\s*[:：]", "", content.strip().rstrip("。"))
    if re.search(r"[。！？]", content):
        return False  # a sentence, not a list of names
    # Nested brackets are part of a name (区水务局（区海洋局）, 各县<市、区>人民政府).
    content = re.sub(r"[（(<〈][^（）()<>〈〉]*[)）>〉]", "", content)
    tokens = [t for t in re.split(r"[、，,；;]", content) if t and not _LIST_RULE.match(t)]
    if not tokens:
        return False
    for token in tokens:
        name = re.sub(r"^(?:责任|牵头|主责|配合|协办)单位\s*[:：]", "", token)
        name = re.sub(r"等(?:相关|有关)?(?:单位|部门)?$", "", _ROLE_WORDS.sub("", name))
        if not (UNIT_LIKE.match(name) or _UNIT_LIKE_MORE.match(name)):
            return False
    return True


def carries_units(text: str, names: UnitNames) -> bool:
    """True when a measure's text names its units: as the units parser finds them, or a trailing
    bracket that is a unit list although the directory does not know its names."""
    if find_bracket(text, names) is not None:
        return True
    label = _LABEL_LINE.search(text)
    if label and looks_like_units_text(label["units"]):
        return True  # "…。责任单位:区发展和改革局" from a line of its own
    bracket = _trailing_bracket(text)
    return bracket is not None and looks_like_units_text(bracket[1:-1])


def _trailing_bracket(text: str) -> str | None:
    """The bracket that ends ``text`` (a final 。 aside), brackets included."""
    stripped = text.rstrip().rstrip("。")
    if not stripped or stripped[-1] not in CLOSERS:
        return None
    depth = 0
    for index in range(len(stripped) - 2, -1, -1):
        char = stripped[index]
        if char in "）)":
            depth += 1
        elif char in "〔【[（(":
            if depth == 0:
                return stripped[index:]
            depth -= 1
    return None


_SIGNED = re.compile(r"^\d{4}年\d{1,2}月\d{1,2}日$")


def _first_parts(paragraphs: list[str]) -> list[int]:
    return [
        i for i, p in enumerate(paragraphs) if _PART.match(compact(p)) and compact(p)[0] == "一"
    ]


def notice_points(paragraphs: list[str]) -> list[str]:
    """The notice's own numbered points when the plan's body starts after the signature (they
    may set the reporting duties); empty otherwise."""
    firsts = _first_parts(paragraphs)
    start, _ = body_range(paragraphs)
    return paragraphs[firsts[0] : start] if firsts and firsts[0] < start else []


def body_range(paragraphs: list[str]) -> tuple[int, int]:
    """Index of the first part heading (一、) and of the first paragraph after the body.

    A notice that numbers its own instructions (一、各责任单位要…) before the signature and
    the date prints the plan after them (past an 附件1 label too): the plan's 一、 is the
    body's start."""
    firsts = _first_parts(paragraphs)
    start = firsts[0] if firsts else len(paragraphs)
    signed = next(
        (i for i in range(start, len(paragraphs)) if _SIGNED.match(compact(paragraphs[i]))), -1
    )
    after = [i for i in firsts if i > signed > start]
    # The points are the notice's own when they assign no units (else they are the plan, and
    # what follows the signature is an annex such as a list of the task force's members).
    if after and not any(carries_units(compact(p), UnitNames()) for p in paragraphs[start:signed]):
        start = after[0]
    end = next(
        (i for i in range(start, len(paragraphs)) if _BODY_END.match(compact(paragraphs[i]))),
        len(paragraphs),
    )
    return start, end


def parse_body(
    paragraphs: list[str],
    carries_units: Callable[[str], bool] | None = None,
    *,
    tasks_elsewhere: bool = False,
) -> Body:
    """Sections and measures of the body paragraphs (already cut from front matter and annex).

    ``carries_units`` tells whether a measure's text names its units; without it every part
    keeps its 1. items as measures. ``tasks_elsewhere``: the notice lists its tasks in an annex
    table, so numbered items without units are section text.
    """
    lines = [repair_brackets(compact(p)) for p in paragraphs]
    body = _parse(lines)
    if carries_units is None:
        return body
    subpart_measures, no_measures = _measure_levels(body, carries_units, tasks_elsewhere)
    if subpart_measures or no_measures:
        body = _parse(lines, subpart_measures, no_measures)
        body.subpart_level = [s.id for s in body.sections if s.id in subpart_measures]
    # Measures without units of their own take those their part's heading names: the importer
    # does that (importer._section_units, with a review line), not the text of the measure.
    return body


def heading_units(title: str, carries_units: Callable[[str], bool]) -> str | None:
    """The units a part heading names for all its measures, as a bracket for the units parser:
    一、强化科技创新（区科技局牵头） / 一、县示范区管委会牵头工作（8项）."""
    bracket = _trailing_bracket(title)
    if bracket is not None and carries_units(title):
        return bracket
    lead = _LEAD_HEADING.match(title)
    if lead and looks_like_units_text(lead["units"]):
        return f"（{lead['units']}牵头）"
    return None


def _parse(
    lines: list[str],
    subpart_measures: frozenset[str] = frozenset(),
    no_measures: frozenset[str] = frozenset(),
) -> Body:
    parser = _Parser(subpart_measures, no_measures)
    for line in lines:
        parser.feed(line)
    for measure in parser.body.measures:
        measure.body = repair_brackets(measure.body)
    return parser.body


def _part_of(section_id: str) -> str:
    return section_id.split("(")[0]


def _measure_levels(
    body: Body, carries_units: Callable[[str], bool], tasks_elsewhere: bool
) -> tuple[frozenset[str], frozenset[str]]:
    """Parts whose sub-parts are the measures, and parts without measures."""
    subpart_measures: set[str] = set()
    no_measures: set[str] = set()
    for part in (s for s in body.sections if s.parent is None):
        measures = [m for m in body.measures if _part_of(m.section) == part.id]
        with_units = sum(carries_units(m.body) for m in measures if m.parent_number is None)
        subparts = [s for s in body.sections if s.parent == part.id]
        # More sub-parts than items with units: a bracket after a sub-part's last item is the
        # sub-part's, not the item's.
        sub_units = sum(carries_units(_heading_rest(s) + s.text) for s in subparts)
        if sub_units > with_units:
            subpart_measures.add(part.id)
        elif not with_units and subparts and heading_units(part.title, carries_units):
            # 一、强化科技创新（区科技局牵头） over （一）…（二）…: the part's units are theirs
            # (part.title is without a 专班 note, which names a group, not units)
            subpart_measures.add(part.id)
        elif not with_units and tasks_elsewhere and measures:
            no_measures.add(part.id)
    return frozenset(subpart_measures), frozenset(no_measures)


def _heading_rest(section: SectionNode) -> str:
    match = _SUBPART.match(section.heading) or _PART.match(section.heading)
    return match["rest"] if match else section.heading
