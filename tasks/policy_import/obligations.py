"""Metadata, reporting obligations and the task force of a notice.

Obligations are the sentences with a reporting deadline and a verb of handing in (报送、反馈、
上报): who reports (the units named before the date), what (the noun before the verb, the list
after 内容需包含 / 明确), to whom (after the verb), by when. The deadlines ``find_due`` reads:

- 每周五前 / 每周五17时前 / 每周一报送上周…: weekly, a weekday of the week or of the week after;
- 每月N日前（报送上月…）: monthly, day N of the month after;
- 每季度结束后N日内, 每季度首月N日前: N days after the quarter; 每季度末, 每季度最后一个月的N日前:
  in the quarter's last month;
- 每半年结束后N日内, 每年6月、12月N日前, 每年7月、1月N日前: half-yearly, likewise;
- 每年N月N日前: yearly, on the previous year (上年, or a month before April) or the current one;
- N月N日前: once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from config.periods import period_key
from tasks.policy_import.text import compact
from tasks.policy_import.units import UnitNames

_NUMBER = re.compile(r"[\u4e00-\u9fa5]{1,10}[〔\[【（(]\s*(\d{4})\s*[〕\]】）)]\s*\d{1,4}\s*号")
_DATE = re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})日$")
_ONCE = re.compile(r"(?<![每\d、])(?P<month>\d{1,2})月(?P<day>\d{1,2})日前")
_WEEKDAYS = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "日": 7, "天": 7}
_HOUR = r"(?:(?P<hour>\d{1,2})(?:时|点|:00|：00))?"
# Each notation: (frequency, pattern); the first that matches a sentence wins, so the longer
# notations come before the ones they contain (每年6月、12月… before 每年N月N日前 before N月N日前).
_DUE_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    (
        "weekly",
        re.compile(rf"每周(?:的)?(?:星期|周)?(?P<weekday>[一二三四五六日天])(?:下班)?{_HOUR}前?"),
    ),
    ("monthly", re.compile(r"每月(?P<day>\d{1,2})日前")),
    (
        "quarterly",
        re.compile(
            r"每(?:个)?季度(?:(?:结束|末)后(?P<after>\d{1,2})(?:个工作日|日|天)内"
            r"|(?:首月|第一个月)的?(?P<first>\d{1,2})日前"
            r"|(?:最后一个月|末月)的?(?P<last>\d{1,2})日前"
            r"|末(?!后)"
            r"|(?=[^，。；]{0,20}?(?:报送|上报|反馈)))"  # 每季度报送一次: no day, see find_due
        ),
    ),
    (
        "half_yearly",
        re.compile(
            r"每半年(?:(?:结束|末)后(?P<after>\d{1,2})(?:个工作日|日|天)内"
            r"|(?:首月|第一个月)的?(?P<first>\d{1,2})日前"
            r"|(?:最后一个月|末月)的?(?P<last>\d{1,2})日前"
            r"|末(?!后)"
            r"|(?=[^，。；]{0,20}?(?:报送|上报|反馈)))"
            r"|(?:每年)?6月(?:底|末)?[、和及]12月(?P<june>\d{1,2})日前"
            r"|(?:每年)?7月[、和及](?:次年)?1月(?P<july>\d{1,2})日前"
        ),
    ),
    ("yearly", re.compile(r"每年(?P<month>\d{1,2})月(?P<day>\d{1,2})日前")),
    ("once", _ONCE),
]
# Not a bare 报: it would match 报告.
_HAND_IN = re.compile(r"(?:报送|反馈|上报|呈报|报至|报给)(?:至|给|到)?")
_CONTENT = re.compile(
    r"(?:内容(?:需|须|应|要)?(?:包含|包括)|明确|对)(?P<list>[^，。；]+?)(?:进行总结|[，。；]|$)"
)
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_ROOM = re.compile(r"[（(](?P<unit>[^（）()]{2,20}?)(?P<room>\d{1,5})\s*室[）)]")


@dataclass
class Meta:
    issuer: str = ""
    number: str = ""
    title: str = ""
    issued: date | None = None
    review: list[str] = field(default_factory=list)


_ISSUER_IN_TITLE = re.compile(
    r"^(?P<issuer>.{2,30}?(?:人民政府办公室|人民政府|办公室|委员会|局))关于"
)


def find_meta(paragraphs: list[str]) -> Meta:
    """Issuer, document number, title and issue date from the front matter."""
    meta = Meta()
    lines = [compact(p).replace(" ", "") for p in paragraphs]
    for line in lines[:15]:
        if line.endswith("文件") and len(line) > 4 and not meta.issuer:
            meta.issuer = line.removesuffix("文件")
        if not meta.number and (m := _NUMBER.search(line)):
            raw = m.group(0)
            meta.number = re.sub(r"[\[【（(]\s*(\d{4})\s*[\]】）)]", r"〔\1〕", raw)
        if not meta.title and "关于" in line and line.endswith(("通知", "意见", "方案", "决定")):
            meta.title = line
    for line in lines:
        if (m := _DATE.match(line)) and meta.issued is None:
            meta.issued = date(int(m[1]), int(m[2]), int(m[3]))
    if not meta.issuer:
        for index, line in enumerate(lines[:-1]):
            if _DATE.match(lines[index + 1]) and line.endswith(("办公室", "政府", "局")):
                meta.issuer = line
                break
    if not meta.issuer and (m := _ISSUER_IN_TITLE.match(meta.title)):
        meta.issuer = m["issuer"]  # 泾县人民政府关于分解落实…的通知: the page lost the signature
    for name, value in (
        ("发文机关", meta.issuer),
        ("文号", meta.number),
        ("标题", meta.title),
        ("印发日期", meta.issued),
    ):
        if not value:
            meta.review.append(f"未识别{name}，请补填")
    return meta


@dataclass(frozen=True)
class Due:
    """A reporting deadline as the notice words it: the schema's frequency and due rule."""

    frequency: str
    rule: dict[str, Any]  # the policy YAML's ``due`` mapping (config.schema.DueRule)
    phrase: str  # the words matched: 每季度结束后10日内
    start: int  # where the phrase starts and ends in the sentence
    end: int
    review: tuple[str, ...] = ()


def _lands(sentence: str, *, after: tuple[str, ...], within: tuple[str, ...]) -> str | None:
    if any(word in sentence for word in after):
        return "after_period"
    if any(word in sentence for word in within):
        return "in_period"
    return None


def find_due(sentence: str, issued: date) -> Due | None:
    """The first reporting deadline a sentence states, in the schema's terms; None if none."""
    for frequency, pattern in _DUE_PATTERNS:
        if (m := pattern.search(sentence)) is not None:
            rule, review = _due_rule(frequency, m, sentence, issued)
            return Due(frequency, rule, m.group(0), m.start(), m.end(), tuple(review))
    return None


def _due_rule(
    frequency: str, m: re.Match[str], sentence: str, issued: date
) -> tuple[dict[str, Any], list[str]]:
    phrase = m.group(0)
    found = {k: v for k, v in m.groupdict().items() if v is not None}
    review: list[str] = []
    if frequency == "weekly":
        weekday = _WEEKDAYS[found["weekday"]]
        lands = _lands(sentence, after=("上周", "上一周"), within=("本周", "当周"))
        if lands is None:  # 每周一报送 is last week's report; 每周五前 this week's
            lands = "after_period" if weekday <= 2 else "in_period"
            which = "上一周" if lands == "after_period" else "当周"
            review.append(f"“{phrase}”未写报送哪一周，按报送{which}处理，请确认")
        rule: dict[str, Any] = {"weekday": weekday, "lands": lands}
        if "hour" in found:
            rule["time"] = f"{int(found['hour']):02d}:00"
        return rule, review
    if frequency == "monthly":
        day = int(found["day"])
        review.append(f"“{phrase}”按每月{day}日当日截止（若“前”不含当日，应提前一天）")
        return {"day_of_month": day}, review
    if frequency in ("quarterly", "half_yearly"):
        span = "季度" if frequency == "quarterly" else "半年"
        if "after" in found:
            if "工作日" in phrase:
                review.append(f"“{phrase}”按自然日计，如须按工作日计请调整 days_after_end")
            return {"days_after_end": int(found["after"])}, review
        if "first" in found:
            return {"day_of_month": int(found["first"]), "lands": "after_period"}, review
        if "last" in found or "june" in found:
            return {
                "day_of_month": int(found.get("last") or found["june"]),
                "lands": "in_period",
            }, review
        if "july" in found:
            return {"day_of_month": int(found["july"]), "lands": "after_period"}, review
        if phrase.endswith("末"):
            review.append(f"“{phrase}”按每{span}最后一天截止")
            return {"day_of_month": 31, "lands": "in_period"}, review
        review.append(f"“{phrase}”未写截止日，暂按每{span}结束后10日内，请按原文或办公室要求修改")
        return {"days_after_end": 10}, review
    if frequency == "yearly":
        month, day = int(found["month"]), int(found["day"])
        lands = _lands(
            sentence,
            after=("上年", "上一年", "上年度", "前一年"),
            within=("本年", "当年", "今年", "本年度"),
        )
        if lands is None:  # 每年1月10日前 reports on the year just ended; 每年11月 on this one
            lands = "after_period" if month <= 3 else "in_period"
            which = "上一年" if lands == "after_period" else "当年"
            review.append(f"“{phrase}”未写报送哪一年，按报送{which}处理，请确认")
        return {"month": month, "day_of_month": day, "lands": lands}, review
    fixed = date(issued.year, int(found["month"]), int(found["day"]))
    if fixed < issued:
        fixed = fixed.replace(year=issued.year + 1)
        review.append(f"“{phrase}”早于印发日期，按{fixed.year}年处理")
    review.append(f"“{phrase}”按{fixed.isoformat()}当日截止")
    return {"fixed_date": fixed}, review


# A report's name starts with its period's word (月度进展情况报告), as report_title expects.
_NAME_PREFIXES = {
    "monthly": ("月度", ("月度", "每月")),
    "quarterly": ("季度", ("季度", "每季度")),
    "half_yearly": ("半年度", ("半年", "每半年")),
    "yearly": ("年度", ("年度", "每年", "全年")),
}


_NOUN_THEN_OFFICE = re.compile(
    r"(?P<n>[^，。；]{2,30}?(?:报告|总结|情况|清单|台账|数据|方案|材料))(?:至|给|到)(?P<to>[^，。；]+)"
)
_PERIOD_WORD = re.compile(r"^(?:上|本|当)(?:一)?(?:月度|月|季度|年度|年|周|半年)")


@dataclass
class ObligationDraft:
    frequency: str
    name: str
    recipients: list[str]
    due: dict[str, Any]  # the schema's due rule for the frequency
    content: list[str]
    submit_to: str
    paper_copy: bool
    source_text: str
    review: list[str]


def _sentences(paragraph: str) -> list[str]:
    return [s + "。" for s in paragraph.split("。") if s.strip()]


def _recipients(subject: str, names: UnitNames) -> tuple[list[str], str]:
    """Units named at the start of a sentence, and what follows them."""
    found: list[str] = []
    rest = subject
    labels = names.labels_longest_first()
    while True:
        label = next((lb for lb in labels if rest.startswith(lb)), None)
        if label is None:
            break
        found.append(label)
        rest = rest[len(label) :].lstrip("、，和及")
    return found, rest


def find_obligations(
    paragraphs: list[str], issued: date, names: UnitNames
) -> list[ObligationDraft]:
    """Reporting obligations anywhere in the notice (body or annex)."""
    out: list[ObligationDraft] = []
    for paragraph in paragraphs:
        text = compact(paragraph)
        text = re.sub(r"^[（(][一二三四五六七八九十]+[)）][^。]{1,8}。", "", text)  # (二)调度机制。
        sentences = _sentences(text)
        for index, sentence in enumerate(sentences):
            due = find_due(sentence, issued)
            if due is None or not _HAND_IN.search(sentence[due.end :]):
                continue
            out.append(_obligation(sentences, index, due, names))
    return out


def _obligation(
    sentences: list[str],
    index: int,
    due: Due,
    names: UnitNames,
) -> ObligationDraft:
    sentence = sentences[index]
    review: list[str] = []
    subject = re.sub(r"(?:请于|应于|要在|须在|需在|于|在)$", "", sentence[: due.start])
    recipients, what = _recipients(subject.strip("，、"), names)
    if not recipients:
        review.append(f"报送事项“{sentence[:30]}…”未识别报送单位，请补填 recipients")
        recipients = ["（待填）"]
    after = sentence[due.end :]
    verb = _HAND_IN.search(after)
    assert verb is not None
    submit_to = re.split(r"[，。；]", after[verb.end() :])[0]
    # "报送上年工作总结至县发改局": the noun after the verb, the office after 至
    object_first = _NOUN_THEN_OFFICE.match(after[verb.end() :])
    if object_first is not None:
        submit_to = object_first["to"]
    name = what.strip("，、")
    if not name:
        # "将月度进展情况报告报送…" / "总结报告盖章后报送…": the noun before the verb
        noun = re.search(r"将(?P<n>[^，。]+?)$", after[: verb.start()]) or re.search(
            r"(?P<n>[^，。]*?(?:报告|台账|情况|清单|总结))(?:盖章后)?$", after[: verb.start()]
        )
        name = noun["n"] if noun else (object_first["n"] if object_first else "")
    if (also := re.search(r"连同(?P<n>[^，。]+?)于", sentence)) is not None:
        name = f"{name}及{also['n']}"
    # 上月/本季度/上年度… say which period; the cycle's label says it for each report.
    name = _PERIOD_WORD.sub("", name)
    prefix, already = _NAME_PREFIXES.get(due.frequency, ("", ()))
    if prefix and name and not name.startswith(already):
        name = f"{prefix}{name}"
    if not name:
        name = "报送事项"
        review.append(f"报送事项“{sentence[:30]}…”未识别名称，请补填 name")
    content: list[str] = []
    source = [sentence]
    for other in (
        sentence,
        *sentences[index + 1 : index + 2],
        *sentences[max(0, index - 1) : index],
    ):
        if (m := _CONTENT.search(other)) and not content:
            content = [c for c in re.split(r"[、]|及|和", m["list"]) if c]
            if other is not sentence:
                source = [other, sentence] if sentences.index(other) < index else [sentence, other]
    if not content:
        content = [name]
        review.append(f"原文未列报送内容，内容暂记为“{name}”，请确认")
    review += due.review
    return ObligationDraft(
        due.frequency,
        name,
        recipients,
        due.rule,
        content,
        submit_to,
        "盖章" in sentence,
        "".join(source),
        review,
    )


@dataclass
class TaskForceDraft:
    name: str
    office_name: str
    office_unit: str
    room: str = ""
    phone: str = ""
    email: str = ""
    contacts: list[tuple[str, str]] = field(default_factory=list)
    leader: tuple[str, str] | None = None
    deputies: list[tuple[str, str]] = field(default_factory=list)
    members: list[str] = field(default_factory=list)
    groups: list[tuple[str, list[str]]] = field(default_factory=list)  # (name, lead units)
    review: list[str] = field(default_factory=list)


def find_task_force(
    paragraphs: list[str], annex: list[str], obligations: list[ObligationDraft], names: UnitNames
) -> TaskForceDraft:
    """The task force, its office and groups, from the annex and the reporting sentences."""
    text = "".join(compact(p) for p in paragraphs + annex)
    titles = [compact(p).replace(" ", "") for p in annex]
    name = next((t for t in titles if t.endswith(("工作专班", "领导小组"))), "")
    name = re.sub(r"^附件\d*[:：]", "", name)
    if not name and (m := re.search(r"(县[^，。、（）]{2,30}?领导小组)办公室", text)):
        name = m[1]
    if not name and (m := re.search(r"成立([^，。、]{2,40}?工作专班)", text)):
        name = m[1]
    office_name = re.sub(r"[（(].*$", "", obligations[0].submit_to) if obligations else ""
    if not office_name.endswith("办公室"):
        office_name = f"{name}办公室" if name else "工作专班办公室"
    draft = TaskForceDraft(name or "工作专班", office_name, "")
    if m := _ROOM.search(text):
        draft.office_unit, draft.room = m["unit"], f"{m['room']} 室"
    elif m := re.search(r"办公室设在([^，。、]{2,20}?(?:局|办|中心|委))", text):
        draft.office_unit = m[1]
    if m := _EMAIL.search(text):
        draft.email = m.group(0)
    for raw in annex + paragraphs:
        line = raw.strip()
        if m := re.match(r"^联系人\s*[:：]\s*(.+)$", line):
            tokens = m[1].split()
            phones = [t for t in tokens if re.fullmatch(r"[\d-]{5,}", t)]
            draft.phone = phones[0] if phones else ""
            draft.contacts = [(t, draft.phone) for t in tokens if t not in phones]
    _people(annex, draft)
    _members_and_groups("".join(titles), draft, names)
    if not name:
        draft.review.append("未识别工作专班名称，请补填 task_force.name")
    if not draft.office_unit:
        draft.review.append("未识别专班办公室所在单位，请补填 task_force.office.unit")
    return draft


def _people(annex: list[str], draft: TaskForceDraft) -> None:
    in_deputies = False
    for raw in annex:
        line = re.sub(r"\s+", " ", raw.strip())
        if m := re.match(r"^组\s*长\s*[:：]\s*(\S+)\s+(.+)$", line):
            draft.leader = (m[1], m[2].replace(" ", ""))
            in_deputies = False
        elif m := re.match(r"^副\s*组\s*长\s*[:：]\s*(\S+)\s+(.+)$", line):
            draft.deputies.append((m[1], m[2].replace(" ", "")))
            in_deputies = True
        elif in_deputies and (m := re.match(r"^([\u4e00-\u9fa5]{2,4})\s+(\S+)$", line)):
            draft.deputies.append((m[1], m[2]))
        else:
            in_deputies = False


def _members_and_groups(annex: str, draft: TaskForceDraft, names: UnitNames) -> None:
    if m := re.search(r"成员[:：](?P<list>.+?)(?:的分管负责同志|等单位|。)", annex):
        seen: set[str] = set()
        for member in m["list"].split("、"):
            key = names.canonical(member)
            if key in seen:
                draft.review.append(f"专班成员名单中“{member}”与前面的单位重复，只保留一次")
                continue
            seen.add(key)
            draft.members.append(member)
    if m := re.search(
        r"[分下]设(?P<list>[^。]+?)等?[一二三四五六七八九十\d]+个(?P<kind>专项推进组|专项小组|工作组)",
        annex,
    ):
        groups = [g + m["kind"] for g in m["list"].split("、")]
        leads_match = re.search(r"分别由(?P<list>[^。]+?)牵头", annex)
        leads = leads_match["list"].split("、") if leads_match else []
        if len(leads) == len(groups):
            draft.groups = [(g, [lead]) for g, lead in zip(groups, leads, strict=True)]
        else:
            draft.groups = [(g, []) for g in groups]
            if leads:
                draft.review.append(
                    f"{len(groups)}个{m['kind']}、{len(leads)}个牵头单位（{'、'.join(leads)}），"
                    "无法一一对应，lead_units 留空，请办公室填写"
                )


def obligation_code(draft: ObligationDraft, index: int) -> str:
    """monthly-report-1, quarterly-report-2, weekly-report-3 …; report-4 for a one-off."""
    if draft.frequency == "once":
        return f"report-{index}"
    return f"{draft.frequency.replace('_', '-')}-report-{index}"


def obligation_dict(draft: ObligationDraft, code: str, active: tuple[date, date]) -> dict[str, Any]:
    """An obligation as the policy YAML writes it; a periodic one covers every period from the
    issue date's to the active period's end (2023-02 … 2023-12, 2023-Q1 … 2023-Q4)."""
    out: dict[str, Any] = {
        "code": code,
        "name": draft.name,
        "frequency": draft.frequency,
        "recipients": draft.recipients,
        "due": dict(draft.due),
    }
    if draft.frequency != "once":
        out["covers_from"], out["covers_to"] = (period_key(draft.frequency, d) for d in active)
    out["content"] = [
        {"key": f"field-{i}", "label": label, "kind": "text"}
        for i, label in enumerate(draft.content, 1)
    ]
    out["submit_to"] = draft.submit_to or "office"
    if draft.paper_copy:
        out["paper_copy"] = True
    out["source_text"] = draft.source_text
    return out
