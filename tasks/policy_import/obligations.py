"""Metadata, reporting obligations and the task force of a notice.

Obligations are the sentences with a reporting deadline and a verb of handing in (报送、反馈、
上报, or a bare 报 followed by an office: 报区人民政府办公室): who reports (the units named before
the date, else the collective the sentence or its paragraph opens with: 各部门各单位要…), what
(the noun before the verb, the list after 内容需包含 / 明确), to whom (after the verb), by when,
from which period (从2022年3月起). The deadlines ``find_due`` reads:

- 每周五前 / 每周五17时前 / 每周一报送上周…: weekly, a weekday of the week or of the week after;
- 每月N日前（报送上月…）: monthly, day N of the month after;
- 每季度结束后N日内, 每季度首月N日前: N days after the quarter; 每季度末, 每季度最后一个月的N日前:
  in the quarter's last month;
- 每半年结束后N日内, 每年6月、12月N日前, 每年7月、1月N日前: half-yearly, likewise;
- 每年N月N日前: yearly, on the previous year (上年, or a month before April) or the current one;
- N月N日前, YYYY年N月N日前, N月N日（星期五）前: once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from itertools import takewhile
from typing import Any

from config.periods import period_key
from tasks.policy_import.text import compact
from tasks.policy_import.units import UnitNames

_NUMBER = re.compile(r"[\u4e00-\u9fa5]{1,10}[〔\[【（(]\s*(\d{4})\s*[〕\]】）)]\s*\d{1,4}\s*号")
_DATE = re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})日$")
_ONCE = re.compile(
    r"(?<![每\d、])(?:(?P<year>\d{4})年)?(?P<month>\d{1,2})月(?P<day>\d{1,2})日"
    r"(?:（(?:星期|周)[一二三四五六日天]）)?前"
)
# 二○○七年四月十三日: a signature date in Chinese numerals.
_CN_DIGITS = {c: i for i, c in enumerate("〇一二三四五六七八九")} | {"○": 0, "零": 0, "O": 0}
_CN_DATE = re.compile(
    r"^(?P<y>[〇○零O一二三四五六七八九]{4})年(?P<m>[一二三四五六七八九十]{1,2})月"
    r"(?P<d>[一二三四五六七八九十]{1,3})日$"
)
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
# An office reports go to, as a bare 报 names it: 报区人民政府办公室, 报旗政府督查室, 报区督查组,
# 报县政府督查室备案. It must end the clause (or run into 备案), so that 报县政府分管领导审查 and
# 报告、报表、报经 are no handing in.
_OFFICE = (
    r"(?:[区县市旗州省乡镇]|街道|上级)[^，。；、：（）《》]{0,20}?"
    r"(?:办公室|督查室|督查组|督办室|专班|领导小组|办|局|委|组|中心|政府|室)"
    r"(?=[，。；（]|备案|$)"
)
_HAND_IN = re.compile(rf"(?:报送|反馈|上报|呈报|报至|报给)(?:至|给|到)?|报(?={_OFFICE})")
# 从2022年3月起, 从2023年第一季度开始: the first period reported on.
_FROM = re.compile(
    r"从(?P<year>\d{4})年(?:(?P<month>\d{1,2})月份?|第(?P<quarter>[一二三四1-4])季度)(?:起|开始)"
)
_QUARTERS = {"一": 1, "二": 2, "三": 3, "四": 4, "1": 1, "2": 2, "3": 3, "4": 4}
# 内容需包含A、B, 明确A、B（，明确C…）, 对A进行总结; not 对照 (对照目标任务) nor 对…进行督办.
_CONTENT = re.compile(
    r"(?:内容(?:需|须|应|要)?(?:包含|包括)|明确)(?P<list>[^，。；]+?)(?:[，。；]|$)"
    r"|对(?P<summed>[^，。；]+?)进行总结"
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
    if meta.issued is None:
        meta.issued = next((d for line in lines if (d := _chinese_date(line))), None)
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
            meta.review.append(
                f"未识别{name}{_garbled_date(lines) if name == '印发日期' else ''}，请补填"
            )
    return meta


def _garbled_date(lines: list[str]) -> str:
    """A date line a web page garbled ("2022121日" for 2022年1月21日?), quoted for the reader."""
    garbled = next((line for line in lines if re.fullmatch(r"\d{4}[\d年月]{1,6}日", line)), None)
    return f"（原文“{garbled}”不是完整日期）" if garbled else ""


def _chinese_number(text: str) -> int:
    """十三 → 13, 二十 → 20, 三十一 → 31, 四 → 4."""
    if "十" not in text:
        return _CN_DIGITS[text]
    tens, _, ones = text.partition("十")
    return (_CN_DIGITS[tens] if tens else 1) * 10 + (_CN_DIGITS[ones] if ones else 0)


def _chinese_date(line: str) -> date | None:
    """二○○七年四月十三日 as a date; None if the line is no such date."""
    if (m := _CN_DATE.match(line)) is None:
        return None
    year = int("".join(str(_CN_DIGITS[c]) for c in m["y"]))
    try:
        return date(year, _chinese_number(m["m"]), _chinese_number(m["d"]))
    except ValueError:
        return None


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
    if "year" in found:  # 于2023年1月15日前: the year as written
        fixed = date(int(found["year"]), int(found["month"]), int(found["day"]))
        review.append(f"“{phrase}”按{fixed.isoformat()}当日截止")
        return {"fixed_date": fixed}, review
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
    covers_from: str | None = None  # 从2022年3月起: the first period, in the frequency's notation


def _sentences(paragraph: str) -> list[str]:
    return [s + "。" for s in paragraph.split("。") if s.strip()]


# Half-width punctuation as many web pages print it, read as full-width: one character for one,
# so that positions in the read text are positions in the printed one. A colon or comma between
# digits (17:00, 1,000) stays.
_HALF_WIDTH = str.maketrans({",": "，", ";": "；", "(": "（", ")": "）", ":": "："})


def _full_width(text: str) -> str:
    return "".join(
        char.translate(_HALF_WIDTH)
        if not (char in ",:" and 0 < i < len(text) - 1 and text[i - 1].isdigit()
                and text[i + 1].isdigit())
        else char
        for i, char in enumerate(text)
    )  # fmt: skip


# Where a sentence's subject starts: past its numbering (三、, （二）, 1.) and 从…起，.
_LEAD_IN = re.compile(
    r"^(?:[一二三四五六七八九十]+、|[（(][一二三四五六七八九十\d]+[)）]|\d+[.．、])?"
    r"(?:从[^，。；]{2,15}?(?:起|开始)，?)?"
)
# A collective the sentence opens with: 各责任单位要, 各部门各单位要在, 各地区、各部门要,
# 县直各相关单位要.
_COLLECTIVE = r"(?:[县区市旗]直)?各[^，。；、：]{0,8}?(?:单位|部门|地区|乡镇|街道|机构|企业|镇|乡)"
_COLLECTIVE_SUBJECT = re.compile(rf"^(?P<c>{_COLLECTIVE}(?:、?{_COLLECTIVE})*)")


def _recipients(subject: str, names: UnitNames) -> tuple[list[str], str]:
    """Units named at the start of a sentence, and what follows them; without a known name, a
    collective the sentence opens with (各部门各单位), as written."""
    found: list[str] = []
    rest = _LEAD_IN.sub("", subject)
    # 各项工作任务的主要责任单位 is 各主要责任单位.
    rest = re.sub(r"^各项[^，。；]{1,10}?的(?=[^，。；]{1,8}单位)", "各", rest)
    labels = names.labels_longest_first()
    while True:
        label = next((lb for lb in labels if rest.startswith(lb)), None)
        if label is None:
            break
        found.append(label)
        rest = rest[len(label) :].lstrip("、，和及")
    if not found and (m := _COLLECTIVE_SUBJECT.match(rest)):
        found, rest = [m["c"]], rest[m.end() :]
    return found, rest


def _covers_from(sentence: str, frequency: str) -> str | None:
    """从2022年3月起 / 从2023年第一季度开始 as the frequency's first period key."""
    if frequency == "once" or (m := _FROM.search(sentence)) is None:
        return None
    month = int(m["month"]) if m["month"] else 3 * _QUARTERS[m["quarter"]] - 2
    if not 1 <= month <= 12:
        return None
    return period_key(frequency, date(int(m["year"]), month, 1))


def find_obligations(
    paragraphs: list[str], issued: date, names: UnitNames
) -> list[ObligationDraft]:
    """Reporting obligations anywhere in the notice (body or annex)."""
    out: list[ObligationDraft] = []
    for paragraph in paragraphs:
        printed = compact(paragraph)
        heading = re.match(
            r"^[（(][一二三四五六七八九十]+[)）][^。]{1,8}。", printed
        )  # (二)调度机制。
        if heading is not None:
            printed = printed[heading.end() :]
        originals = _sentences(printed)
        sentences = [_full_width(s) for s in originals]
        for index, sentence in enumerate(sentences):
            due = find_due(sentence, issued)
            if due is None or not _HAND_IN.search(sentence[due.end :]):
                continue
            out.append(_obligation(sentences, index, due, names, originals[index]))
    return out


def _name(sentence: str, what: str, due: Due, verb_at: int) -> str:
    """What is reported: the noun the subject ends with (各部门贯彻落实举措于…), else the one
    after 将 or before the verb, else the one between the verb and 至."""
    if re.search(r"[，；]", what) or what.startswith(("要", "务", "应", "须", "需", "请", "并")):
        what = ""  # a clause (要高度重视，…并), not a noun
    name = what.strip("，、")
    if name:
        return name
    before = sentence[:verb_at]
    # 将X报…, 将X，以书面和电子邮件的形式报…, 将X报县政府分管领导审查签字后，于…前报…
    if (
        m := re.search(
            r"将(?P<n>[^。]+?)(?:，以[^，。；]{0,15}?(?:形式|方式))?$", before[due.end :]
        )
    ) and "，" not in m["n"]:
        return m["n"]
    if (m := re.search(r"将(?P<n>[^，。；]+?)报", before)) is not None:
        return m["n"]
    if (
        m := re.search(r"将(?P<n>[^。；]+?)，以[^，。；]{0,15}?(?:形式|方式)$", before)
    ) is not None:
        return m["n"]
    # 将…工作目标做好细化实施方案，…于4月20日前上报: the document made for the occasion.
    made = re.findall(
        r"(?:制订|制定|做好|形成|编制|建立)(?P<n>[^，。；]{1,15}?(?:方案|计划|清单|台账))",
        sentence[: due.start],
    )
    if made:
        return str(made[-1])
    noun = re.search(
        r"(?P<n>[^，。]*?(?:报告|台账|情况|清单|总结))(?:盖章后)?$", sentence[due.end : verb_at]
    )
    return noun["n"] if noun else ""


def _tidy_name(name: str) -> str:
    """A report's name as a title: …审阅同意后的《2022年<政府工作报告>…情况表》（电子版） →
    《政府工作报告》…情况表; 本部门（单位）完成任务的进展情况 → 完成任务的进展情况."""
    if (m := re.search(r"《(?P<t>[^《》]+)》", name)) is not None:
        name = re.sub(r"^\d{4}年(?:度)?", "", m["t"]).replace("<", "《").replace(">", "》")
    name = re.sub(r"^本(?:部门|单位|地区)(?:[（(](?:单位|部门)[)）])?的?", "", name)
    # 上月/本季度/上年度… say which period; the cycle's label says it for each report.
    return _PERIOD_WORD.sub("", name)


def _obligation(
    sentences: list[str],
    index: int,
    due: Due,
    names: UnitNames,
    printed: str,
) -> ObligationDraft:
    sentence = sentences[index]
    review: list[str] = []
    subject = re.sub(
        r"(?:请于|应于|务于|要在|须在|需在|于|在)$", "", sentence[: due.start].rstrip("，")
    )
    recipients, what = _recipients(subject.strip("，、"), names)
    if not recipients:
        # 一、各地区、各部门要高度重视…。从2022年3月起，务于每月25日前…: the paragraph's subject.
        for earlier in reversed(sentences[:index]):
            recipients, _ = _recipients(earlier, names)
            if recipients:
                break
        what = ""
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
    submit_to = re.sub(r"备案$", "", submit_to)
    if "（" in submit_to and "）" not in submit_to[submit_to.index("（") :]:
        submit_to = submit_to[
            : submit_to.index("（")
        ]  # a bracket the clause cut: 区督查组（办公室设在…
    name = _name(sentence, what, due, due.end + verb.start())
    if not name and object_first is not None:
        name = object_first["n"]
    if (also := re.search(r"连同(?P<n>[^，。]+?)于", sentence)) is not None:
        name = f"{name}及{also['n']}"
    name = _tidy_name(name)
    prefix, already = _NAME_PREFIXES.get(due.frequency, ("", ()))
    if prefix and name and not name.startswith(already):
        name = f"{prefix}{name}"
    if not name:
        name = "报送事项"
        review.append(f"报送事项“{sentence[:30]}…”未识别名称，请补填 name")
    content: list[str] = []
    source = [printed]
    for other in (
        sentence,
        *sentences[index + 1 : index + 2],
        *sentences[max(0, index - 1) : index],
    ):
        if (m := _CONTENT.search(other)) and not content:
            listed = m["list"] or m["summed"]
            if other.startswith("明确", m.start()):  # 明确责任，明确措施，明确时间节点
                clauses = re.split(r"[，；。]", other[m.start() :])
                listed = "、".join(
                    c[2:] for c in takewhile(lambda c: c.startswith("明确"), clauses)
                )
            content = [c for c in re.split(r"[、]|及|和", listed) if c]
            if other is not sentence:
                source = [other, printed] if sentences.index(other) < index else [printed, other]
    if not content:
        content = [name]
        review.append(f"原文未列报送内容，内容暂记为“{name}”，请确认")
    review += due.review
    covers_from = _covers_from(sentence, due.frequency)
    return ObligationDraft(
        due.frequency,
        name,
        recipients,
        due.rule,
        content,
        submit_to,
        # 盖章 (a stamped copy), 以书面和电子邮件的形式 (a written copy besides the e-mail)
        "盖章" in sentence or "书面" in sentence,
        "".join(source),
        review,
        covers_from,
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
        # 从2022年3月起 in a notice issued in February: the reports start later. A start before
        # the issue date's period stays at it (no cycle before the policy is active).
        if draft.covers_from and out["covers_from"] < draft.covers_from <= out["covers_to"]:
            out["covers_from"] = draft.covers_from
    out["content"] = [
        {"key": f"field-{i}", "label": label, "kind": "text"}
        for i, label in enumerate(draft.content, 1)
    ]
    out["submit_to"] = draft.submit_to or "office"
    if draft.paper_copy:
        out["paper_copy"] = True
    out["source_text"] = draft.source_text
    return out
