"""Metadata, reporting obligations and the task force of a notice.

Obligations are the sentences with a reporting deadline (每月N日前 / N月N日前) and a verb of
handing in (报送、反馈、上报): who reports (the units named before the date), what (the noun before
the verb, the list after 内容需包含 / 明确), to whom (after the verb), by when.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from tasks.policy_import.text import compact
from tasks.policy_import.units import UnitNames

_NUMBER = re.compile(r"[\u4e00-\u9fa5]{1,10}[〔\[【（(]\s*(\d{4})\s*[〕\]】）)]\s*\d{1,4}\s*号")
_DATE = re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})日$")
_MONTHLY = re.compile(r"每月(?P<day>\d{1,2})日前")
_ONCE = re.compile(r"(?<![每\d])(?P<month>\d{1,2})月(?P<day>\d{1,2})日前")
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


@dataclass
class ObligationDraft:
    frequency: str
    name: str
    recipients: list[str]
    day_of_month: int | None
    fixed_date: date | None
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
            monthly = _MONTHLY.search(sentence)
            due_match = monthly or _ONCE.search(sentence)
            if due_match is None or not _HAND_IN.search(sentence[due_match.end() :]):
                continue
            out.append(_obligation(sentences, index, due_match, monthly is not None, issued, names))
    return out


def _obligation(
    sentences: list[str],
    index: int,
    due: re.Match[str],
    monthly: bool,
    issued: date,
    names: UnitNames,
) -> ObligationDraft:
    sentence = sentences[index]
    review: list[str] = []
    subject = re.sub(r"(?:请于|应于|要在|须在|需在|于|在)$", "", sentence[: due.start()])
    recipients, what = _recipients(subject.strip("，、"), names)
    if not recipients:
        review.append(f"报送事项“{sentence[:30]}…”未识别报送单位，请补填 recipients")
        recipients = ["（待填）"]
    after = sentence[due.end() :]
    verb = _HAND_IN.search(after)
    assert verb is not None
    submit_to = re.split(r"[，。；]", after[verb.end() :])[0]
    name = what.strip("，、")
    if not name:
        # "将月度进展情况报告报送…" / "总结报告盖章后报送…": the noun before the verb
        noun = re.search(r"将(?P<n>[^，。]+?)$", after[: verb.start()]) or re.search(
            r"(?P<n>[^，。]*?(?:报告|台账|情况|清单|总结))(?:盖章后)?$", after[: verb.start()]
        )
        name = noun["n"] if noun else ""
    if (also := re.search(r"连同(?P<n>[^，。]+?)于", sentence)) is not None:
        name = f"{name}及{also['n']}"
    if monthly and name and not name.startswith(("月度", "每月")):
        name = f"月度{name}"
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
    fixed: date | None = None
    day: int | None = None
    if monthly:
        day = int(due["day"])
        review.append(f"“{due.group(0)}”按每月{day}日当日截止（若“前”不含当日，应提前一天）")
    else:
        fixed = date(issued.year, int(due["month"]), int(due["day"]))
        if fixed < issued:
            fixed = fixed.replace(year=issued.year + 1)
            review.append(f"“{due.group(0)}”早于印发日期，按{fixed.year}年处理")
        review.append(f"“{due.group(0)}”按{fixed.isoformat()}当日截止")
    return ObligationDraft(
        "monthly" if monthly else "once",
        name,
        recipients,
        day,
        fixed,
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


def obligation_dict(draft: ObligationDraft, code: str, covers: tuple[str, str]) -> dict[str, Any]:
    """An obligation as the policy YAML writes it."""
    due: dict[str, Any] = (
        {"day_of_month": draft.day_of_month}
        if draft.frequency == "monthly"
        else {"fixed_date": draft.fixed_date}
    )
    out: dict[str, Any] = {
        "code": code,
        "name": draft.name,
        "frequency": draft.frequency,
        "recipients": draft.recipients,
        "due": due,
    }
    if draft.frequency == "monthly":
        out["covers_from"], out["covers_to"] = covers
    out["content"] = [
        {"key": f"field-{i}", "label": label, "kind": "text"}
        for i, label in enumerate(draft.content, 1)
    ]
    out["submit_to"] = draft.submit_to or "office"
    if draft.paper_copy:
        out["paper_copy"] = True
    out["source_text"] = draft.source_text
    return out
