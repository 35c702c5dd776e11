"""Quantified targets, date phrases and measure deadlines in a measure's text.

A target is a number with a unit of measure in a clause that states a goal (达到、完成、建成、
新增…) and not a reward, subsidy or condition (奖励、补贴、标准、…以上的). Its date phrase is
the nearest one in the same clause, else in an earlier clause of the same sentence. Relative
phrases (今年、明年、全年、上半年、一季度…) are resolved against the document's issue date and the
resolution is recorded, because the office must be able to check it.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date

NO_PHRASE = "（原文未写时限，按政策期末）"
_NUMBER = r"(?P<value>\d+(?:\.\d+)?)(?:\s*[-~～—至](?P<upper>\d+(?:\.\d+)?))?"
_UNITS = "|".join(
    [
        "万吨",
        "亿元",
        "万元",
        "万亩",
        "万人",
        "万户",
        "个月",
        "平方米",
        "公里",
        "千米",
        *"座处个家项户所条台套场亩吨%％",
    ]
)
_QUANTITY = re.compile(rf"(?<![\d.]){_NUMBER}\s*(?P<unit>{_UNITS})")
_GOAL = re.compile(
    r"达到|完成|建成|新增|新建|累计|压减至|减少到|降低到|降至|控制在|培育|引进|推荐申报|评定|"
    r"建设|推进|履行|上报|推动|创建|实现|备案|提高到|提升到|突破"
)
# A clause about money paid out, a standard or a condition is not a target.
_NOT_GOAL = re.compile(
    r"奖励|补贴|给予|标准|最高|不超过|资助|贴息|降到|顺延|超过|以上的|以下的|的$|费率|激励"
)
_AT_MOST = re.compile(r"压减至|减少到|降低到|降至|控制在|以内|不超过")
_FROM_TO = re.compile(r"由$")  # "由36个月压减至24个月": the first number is the baseline
_CN_QUARTER = {"一": 1, "二": 2, "三": 3, "四": 4, "1": 1, "2": 2, "3": 3, "4": 4}
_YEAR = r"(?:(?P<year>\d{4})年|(?P<rel>今年|明年|当年|本年))?"

# Date phrases, most specific first; each names its groups for _resolve.
_PHRASES: list[tuple[str, re.Pattern[str]]] = [
    ("plan", re.compile(r"[“\"]?十四五[”\"]?(?:期间|末|时期)?")),
    ("day", re.compile(r"(?P<year>\d{4})年(?P<month>\d{1,2})月(?P<day>\d{1,2})日前?")),
    ("month_end", re.compile(r"(?P<year>\d{4})年(?P<month>\d{1,2})月(?:底|末)前?")),
    ("month_before", re.compile(r"(?P<year>\d{4})年(?P<month>\d{1,2})月前")),
    ("year_end", re.compile(r"(?:(?P<year>\d{4})|(?P<rel>今|明|当|本))(?:年底|年末)前?")),
    ("half", re.compile(rf"{_YEAR}(?P<half>上|下)半年")),
    ("quarter", re.compile(rf"{_YEAR}(?:第)?(?P<q>[一二三四1-4])季度")),
    ("whole", re.compile(rf"{_YEAR}全年")),
    ("year", re.compile(r"(?P<year>\d{4})年(?P<yd>度)?(?![\d底末])")),
    ("annual", re.compile(r"(?<![\d年])年度")),
]


@dataclass(frozen=True)
class DatePhrase:
    kind: str
    phrase: str
    start: int  # position in the text searched
    end: int
    due: date
    starts: date | None
    resolution: str  # empty for an absolute date
    uncertain: str = ""  # why a person should check it


@dataclass(frozen=True)
class TargetDraft:
    metric: str
    value: float
    unit: str
    direction: str
    due: date
    due_phrase: str
    starts: date | None
    resolution: str
    review: list[str]
    span: tuple[int, int]  # where in the measure text, to keep dates used here off the deadline


def _month_end(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


def _year_of(match: re.Match[str], issued: date) -> tuple[int, str]:
    """The year a phrase names, and the words to record when it was relative."""
    groups = match.groupdict()
    if groups.get("year"):
        return int(groups["year"]), ""
    rel = groups.get("rel") or ""
    word = rel if rel.endswith("年") else f"{rel}年"
    if rel.startswith("明"):
        return issued.year + 1, f"“{word}”按印发日期{issued.isoformat()}解析为{issued.year + 1}年"
    if not rel:
        return issued.year, f"未写年份，按印发日期{issued.isoformat()}取{issued.year}年"
    return issued.year, f"“{word}”按印发日期{issued.isoformat()}解析为{issued.year}年"


def find_phrases(text: str, issued: date) -> list[DatePhrase]:
    """Every date phrase in the text, non-overlapping, in order."""
    found: list[DatePhrase] = []
    taken: list[tuple[int, int]] = []
    for kind, pattern in _PHRASES:
        for match in pattern.finditer(text):
            if any(s < match.end() and match.start() < e for s, e in taken):
                continue
            phrase = _resolve(kind, match, issued)
            if phrase is not None:
                found.append(phrase)
                taken.append((match.start(), match.end()))
    return sorted(found, key=lambda p: p.start)


def _resolve(kind: str, m: re.Match[str], issued: date) -> DatePhrase | None:
    """The dates a phrase of ``kind`` stands for; None when it names no real date (2月30日)."""
    if kind in ("plan", "day", "month_end", "month_before"):
        return _resolve_absolute(kind, m)
    return _resolve_relative(kind, m, issued)


def _resolve_absolute(kind: str, m: re.Match[str]) -> DatePhrase | None:
    """A phrase that names its dates outright: 十四五, a day, a month's end."""
    text, start, end = m.group(0), m.start(), m.end()
    if kind == "plan":
        return DatePhrase(
            kind,
            text,
            start,
            end,
            date(2025, 12, 31),
            date(2021, 1, 1),
            "“十四五”期间即2021-01-01至2025-12-31，按期末2025-12-31",
        )
    if kind == "day":
        try:
            due = date(int(m["year"]), int(m["month"]), int(m["day"]))
        except ValueError:
            return None
        return DatePhrase(kind, text, start, end, due, None, "")
    if kind == "month_end":
        if not 1 <= int(m["month"]) <= 12:
            return None
        return DatePhrase(
            kind, text, start, end, _month_end(int(m["year"]), int(m["month"])), None, ""
        )
    year, month = int(m["year"]), int(m["month"])  # month_before
    if not 1 <= month <= 12:
        return None
    return DatePhrase(
        kind,
        text,
        start,
        end,
        _month_end(year, month),
        None,
        "",
        f"“{text}”按{_month_end(year, month)}处理（严格字面为{month}月1日之前）",
    )


def _resolve_relative(kind: str, m: re.Match[str], issued: date) -> DatePhrase:
    """A phrase within a year, the year written or relative to the issue date (今年、明年…)."""
    text, start, end = m.group(0), m.start(), m.end()
    year, said = _year_of(m, issued)
    note = f"{said}；" if said else ""
    if kind == "year_end":
        return DatePhrase(kind, text, start, end, date(year, 12, 31), None, said)
    if kind == "half":
        first = m["half"] == "上"
        due = date(year, 6, 30) if first else date(year, 12, 31)
        starts = date(year, 1, 1) if first else date(year, 7, 1)
        return DatePhrase(
            kind, text, start, end, due, starts, f"{note}“{text}”即{starts.isoformat()}至{due}"
        )
    if kind == "quarter":
        q = _CN_QUARTER[m["q"]]
        starts = date(year, 3 * q - 2, 1)
        due = _month_end(year, 3 * q)
        return DatePhrase(
            kind, text, start, end, due, starts, f"{note}“{text}”即{starts.isoformat()}至{due}"
        )
    if kind == "whole":
        return DatePhrase(
            kind,
            text,
            start,
            end,
            date(year, 12, 31),
            date(year, 1, 1),
            f"{note}“{text}”即{year}-01-01至{year}-12-31",
        )
    if kind == "year":
        return DatePhrase(
            kind, text, start, end, date(year, 12, 31), date(year, 1, 1), f"“{text}”即{year}年全年"
        )
    # "年度" without a year: the document's year.
    return DatePhrase(
        kind,
        text,
        start,
        end,
        date(issued.year, 12, 31),
        date(issued.year, 1, 1),
        f"“年度”按印发日期{issued.isoformat()}解析为{issued.year}年度",
    )


def _sentences(text: str) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []
    start = 0
    for index, char in enumerate(text):
        if char in "。！？；":
            out.append((start, text[start : index + 1]))
            start = index + 1
    if start < len(text):
        out.append((start, text[start:]))
    return out


def _clauses(sentence: str) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []
    start = 0
    for index, char in enumerate(sentence):
        if char in "，,：:。；！？":
            out.append((start, sentence[start:index]))
            start = index + 1
    if start < len(sentence):
        out.append((start, sentence[start:]))
    return out


_LEAD_WORDS = re.compile(
    r"^(?:力争|确保|争取|积极|加快|持续|全力|进一步|高质量|分批次|督促相关单位)+"
)
_TRAIL_WORDS = re.compile(r"(?:达到|完成|建成|实现|为|至|的)+$")


def _metric(clause: str, q_start: int, q_end: int, phrases: list[DatePhrase]) -> str:
    after = clause[q_end:]
    after = re.sub(r"^(?:以上|以内|左右)", "", after)
    if after and not _GOAL.fullmatch(after):
        return after.strip("的 ") or clause
    before = clause[:q_start]
    for phrase in phrases:
        before = before.replace(phrase.phrase, "")
    before = _LEAD_WORDS.sub("", before)
    before = _TRAIL_WORDS.sub("", before)
    return before.strip() or clause.strip()


def find_targets(text: str, issued: date, active_end: date) -> list[TargetDraft]:
    """Quantified targets of a measure's text (bracket already removed)."""
    targets: list[TargetDraft] = []
    for s_start, sentence in _sentences(text):
        phrases = find_phrases(sentence, issued)
        goal_seen = False
        for c_start, clause in _clauses(sentence):
            has_goal = bool(_GOAL.search(clause))
            excluded = bool(_NOT_GOAL.search(clause))
            for q in _QUANTITY.finditer(clause):
                verb = _GOAL.search(clause[: q.start()])
                if excluded or not (verb or (not has_goal and goal_seen)):
                    continue
                if _FROM_TO.search(clause[: q.start()]):
                    continue
                target = _target(clause, q, c_start, s_start, phrases, active_end)
                targets.append(target)
            goal_seen = goal_seen or has_goal
    return targets


def _target(
    clause: str,
    q: re.Match[str],
    c_start: int,
    s_start: int,
    phrases: list[DatePhrase],
    active_end: date,
) -> TargetDraft:
    review: list[str] = []
    value = float(q["value"])
    if q["upper"]:
        review.append(f"区间“{q.group(0)}”取下限{q['value']}")
    absolute = c_start + q.start()
    # The phrase in the same clause, else the nearest one in an earlier clause of the sentence.
    c_end = c_start + len(clause)
    same = [p for p in phrases if c_start <= p.start < c_end]
    # A bare year in an earlier clause qualifies something else ("按照2023年提前批次…要求").
    earlier = [p for p in phrases if p.end <= c_start and p.kind not in ("year", "annual")]
    chosen = (
        min(same, key=lambda p: abs(p.start - absolute))
        if same
        else (earlier[-1] if earlier else None)
    )
    unit = "%" if q["unit"] == "％" else q["unit"]
    direction = "at_most" if _AT_MOST.search(clause) else "at_least"
    # The list item holding the number: "推荐申报A3家、B4家" → "B4家".
    seg_start = max(clause.rfind(sep, 0, q.start()) for sep in "、和及与") + 1
    ends = [i for i in (clause.find(sep, q.end()) for sep in "、和及与") if i >= 0]
    segment = clause[seg_start : min(ends) if ends else len(clause)]
    offset = q.start() - seg_start
    metric = _metric(segment, offset, offset + len(q.group(0)), [chosen] if chosen else [])
    if chosen is None:
        due, phrase, starts, resolution = active_end, NO_PHRASE, None, ""
    else:
        due, phrase, starts, resolution = (
            chosen.due,
            chosen.phrase,
            chosen.starts,
            chosen.resolution,
        )
        if chosen.uncertain:
            review.append(chosen.uncertain)
    span = (s_start + c_start + q.start(), s_start + c_start + q.end())
    return TargetDraft(
        metric, value, unit, direction, due, phrase, starts, resolution, review, span
    )


@dataclass(frozen=True)
class Deadline:
    due: date
    phrase: str
    review: str
    kind: str = "task"  # task / window (config.schema.Measure.deadline_kind)
    kind_review: str = ""  # why the kind needs a person's look, "" when the words are plain


_DEADLINE_KINDS = {"day", "month_end", "month_before", "year_end"}
# Words right before the date that make it the end of a policy's validity, not of a task:
# 政策执行至2023年4月30日、暂定执行至…、最长可延至…、有效期至…、企业可在2023年底前补缴.
_WINDOW_BEFORE = re.compile(r"(执行至|执行到|实施至|延至|有效期至|截至|可在|可于)$")
# A date in a sentence that grants support (奖励、补贴、激励…) may be either: the office decides.
_SUPPORT = re.compile(r"奖励|补贴|激励|扶持|资助|贴息|减免|缓缴|补缴|优惠")


def deadline_kind(sentence: str, phrase_start: int) -> tuple[str, str]:
    """Propose whether a measure's date ends a task or a policy window, and say when unsure."""
    before = sentence[max(0, phrase_start - 6) : phrase_start]
    if _WINDOW_BEFORE.search(before):
        return "window", ""
    if _SUPPORT.search(sentence):
        return "task", (
            "deadline_kind 暂按 task（工作完成时限）；该句是扶持政策，若日期是政策执行期的截止日，"
            "请改为 window（只显示、不亮灯、不督办）"
        )
    return "task", ""


def find_deadline(text: str, issued: date, used: list[tuple[int, int]]) -> Deadline | None:
    """The first dated deadline of a measure (执行至…、…底前、…月前) not taken by a target."""
    for s_start, sentence in _sentences(text):
        for phrase in find_phrases(sentence, issued):
            start = s_start + phrase.start
            if any(s_start <= a and b <= s_start + len(sentence) for a, b in used):
                continue  # "2022年底，累计建成…200个": the date belongs to the target
            if phrase.kind not in _DEADLINE_KINDS or phrase.resolution:
                continue
            if text[start + len(phrase.phrase) : start + len(phrase.phrase) + 1] in ("至", "到"):
                continue  # the start of a period (2023年1月至3月), not a deadline
            kind, kind_review = deadline_kind(sentence, phrase.start)
            return Deadline(phrase.due, phrase.phrase, phrase.uncertain, kind, kind_review)
    return None
