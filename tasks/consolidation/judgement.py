"""综合研判: the short judgement that opens the monthly bulletin, as the 陵川 notice asks
(落实情况、任务推进情况、台账报送质量, reported to the county leaders).

Every sentence is made by a rule from the month's consolidation, and every figure in it appears
in the bulletin's tables or lists below (the month before is named in 报送总体情况); nothing is
free text. Four paragraphs: 报送, 推进 (which ends with the 临期和逾期事项 in one sentence),
台账质量, 督办.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from tasks.calendar import SHANGHAI
from tasks.consolidation.consolidate import (
    LIGHT_LABELS,
    STATE_LABELS,
    STATUS_ORDER,
    Consolidation,
    MeasureRow,
    TargetRow,
)
from tasks.cycles import period_words
from tasks.deadlines import WEEKDAYS
from tasks.render import article

LATE_STATES = ("late", "missing", "rejected")
NAMED_AT_MOST = 5  # names listed in a sentence before 等 (the tables below list them all)


@dataclass(frozen=True)
class Paragraph:
    label: str  # 报送情况 …
    text: str


def _rate(part: int, whole: int) -> Decimal:
    """A share in percent, rounded half up to one decimal as the bulletin prints it."""
    if not whole:
        return Decimal(0)
    return (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.1"), rounding="ROUND_HALF_UP")


def cite(number: str) -> str:
    """第20条, 第26(3)条; a number the notice grammar does not know is cited as it is."""
    try:
        return article(number)
    except ValueError:
        return f"措施{number}"


def named(names: Sequence[str]) -> str:
    """甲、乙、丙; more than NAMED_AT_MOST end with 等."""
    shown = "、".join(names[:NAMED_AT_MOST])
    return shown + ("等" if len(names) > NAMED_AT_MOST else "")


def reporting(c: Consolidation) -> str:
    """报送: the on-time rate and its change, who lags, who lags for the second month running."""
    n = c.counts
    rate = _rate(n["on_time"], n["obligated"])
    text = f"应报送单位{n['obligated']}个，按时报送{n['on_time']}个，按时报送率{rate}%"
    previous = c.source.previous
    words = period_words(c.source.frequency)
    if previous is not None and previous.obligated:
        before = _rate(previous.on_time, previous.obligated)
        change = rate - before
        if change > 0:
            trend = f"提高{change}个百分点"
        elif change < 0:
            trend = f"下降{-change}个百分点"
        else:
            trend = "持平"
        text += f"，较{words.last}（{previous.period_label}，{before}%）{trend}"
    lagging = [(s, n[s]) for s in LATE_STATES if n[s]]
    if lagging:
        text += "；" + "、".join(f"{STATE_LABELS[s]}{count}个" for s, count in lagging)
    text += "。" if lagging else "。各单位均按时报送。"
    if previous is not None:
        again = [
            f"{u.name}（{words.last}{STATE_LABELS[previous.states[u.code]]}，"
            f"{words.this}{STATE_LABELS[u.state]}）"
            for u in c.units
            if u.state in LATE_STATES and previous.states.get(u.code) in LATE_STATES
        ]
        if again:
            text += f"连续{words.two}未按时报送的单位{len(again)}个：{named(again)}。"
    return text


def _target_name(m: MeasureRow, t: TargetRow) -> str:
    leads = "、".join(m.lead_units[:1]) + ("等" if len(m.lead_units) > 1 else "")
    return f"{cite(m.number)}{t.metric}（{leads}牵头）"


def progress(c: Consolidation) -> str:
    """推进: measures by status; targets by light, the red ones named with how far behind."""
    by_status = [(s, sum(1 for m in c.measures if m.status == s)) for s in STATUS_ORDER]
    missing = sum(1 for m in c.measures if m.status is None)
    parts = [f"{s}{count}项" for s, count in by_status if count]
    if missing:
        parts.append(f"未报进展{missing}项")
    text = f"{len(c.measures)}项措施中，{'、'.join(parts) or '均未报送进展'}。"
    behind = [m for m in c.measures if m.status == "滞后"]
    if behind:
        titles = named([f"{cite(m.number)}{m.title}" for m in behind])
        text += f"自报滞后的措施{len(behind)}项：{titles}。"
    targets = [(m, t) for m in c.measures for t in m.targets]
    if not targets:
        return text + "本期措施均无量化目标。" + deadlines(c)
    lights = [
        (LIGHT_LABELS[key], sum(1 for _, t in targets if t.light == key))
        for key in ("red", "yellow", "green", "check")
    ]
    unreported = sum(1 for _, t in targets if t.light == "none")
    counted = [f"{label}{count}项" for label, count in lights if count]
    if unreported:
        counted.append(f"未报完成值{unreported}项")
    text += f"量化目标{len(targets)}项，{'、'.join(counted)}。"
    red = sorted(
        ((m, t) for m, t in targets if t.light == "red"), key=lambda p: -(p[1].points_behind or 0)
    )
    if red:
        listed = "；".join(
            f"{_target_name(m, t)}落后序时进度{t.points_behind:.1f}个百分点" for m, t in red
        )
        text += f"红灯目标：{listed}，需重点督促。"
    yellow = [(m, t) for m, t in targets if t.light == "yellow"]
    if yellow:
        listed = "；".join(
            f"{_target_name(m, t)}落后{t.points_behind:.1f}个百分点"
            for m, t in yellow[:NAMED_AT_MOST]
        )
        more = "等" if len(yellow) > NAMED_AT_MOST else ""
        text += f"黄灯目标：{listed}{more}。"
    return text + deadlines(c)


def short_day(day: date, year: int) -> str:
    """6月30日（星期五）; with its year when not the bulletin's (2022年12月31日（星期六）)."""
    text = f"{day.month}月{day.day}日（{WEEKDAYS[day.weekday()]}）"
    return text if day.year == year else f"{day.year}年{text}"


def _deadline_clause(m: MeasureRow, year: int) -> str:
    """第12条措施完成时限为6月30日（星期五），剩20天，牵头单位报送“推进中”."""
    d = m.deadline
    assert d is not None
    due = short_day(d.deadline.due, year)
    if d.deadline.kind == "window":
        left = "今日到期" if d.days == 0 else f"还有{d.days}天"
        return f"{cite(m.number)}{m.title}，政策执行至{due}，{left}，到期后政策停止执行"
    when = f"完成时限为{due}"
    if d.deadline.extended:
        was = d.deadline.original
        was_text = (
            f"{was.month}月{was.day}日"
            if was.year == year
            else f"{was.year}年{was.month}月{was.day}日"
        )
        when = f"完成时限经办公室同意由{was_text}延至{due}"
    said = "牵头单位未报送进展" if m.status is None else f"牵头单位报送“{m.status}”"
    return f"{cite(m.number)}措施{when}，{d.days_text}，{said}"


def deadlines(c: Consolidation) -> str:
    """临期和逾期事项 in one sentence, the overdue first, with what the office asks for."""
    items = c.deadline_items
    if not items:
        return ""
    year = c.source.as_of.astimezone(SHANGHAI).year
    clauses = "；".join(_deadline_clause(m, year) for m in items[:NAMED_AT_MOST])
    more = f"等{len(items)}项（见临期和逾期事项表）" if len(items) > NAMED_AT_MOST else ""
    late = [m for m in items if m.deadline is not None and m.deadline.state == "overdue"]
    soon = [m for m in items if m.deadline is not None and m.deadline.state == "due_soon"]
    ask = ""
    if late:
        ask = f"请{_leads_asked(late)}说明逾期原因、限期办结"
    elif soon:
        ask = f"请{_leads_asked(soon)}抓紧推进，确保按期完成"
    return f"临期和逾期事项：{clauses}{more}" + (f"。{ask}。" if ask else "。")


def _leads_asked(measures: Sequence[MeasureRow]) -> str:
    """Whom the office asks: 县发改局; where a measure has several leads, 县文旅局等牵头单位."""
    first = list(dict.fromkeys(m.lead_units[0] for m in measures if m.lead_units))
    if not first:
        return "牵头单位"
    names = named(first)
    if names.endswith("等"):  # more first leads than a sentence names
        return names + "牵头单位"
    return names + ("等牵头单位" if any(len(m.lead_units) > 1 for m in measures) else "")


def quality(c: Consolidation) -> str:
    """台账质量: ledger rows incomplete, replies waiting for review, values to verify."""
    sentences = []
    if c.ledger:
        sent = [r for r in c.ledger if r.state == "已报送"]
        missing = [r.unit for r in c.ledger if r.state != "已报送"]
        partial = [r for r in sent if r.complete < r.rows]
        empty = [r.unit for r in sent if not r.rows]
        text = f"任务清单台账应报{len(c.ledger)}个单位，已报送{len(sent)}个"
        if missing:
            text += f"，未报送{len(missing)}个（{named(missing)}）"
        if partial:
            rows = named([f"{r.unit}（{r.complete}/{r.rows}行完整）" for r in partial])
            text += f"；填写不完整的{len(partial)}个：{rows}"
        if empty:
            text += f"；报送但未列任何措施的{len(empty)}个：{named(empty)}"
        sentences.append(text + "。")
    review = [u.name for u in c.units if u.needs_review]
    if review:
        sentences.append(f"未使用规定表格报送、待办公室审核的{len(review)}个：{named(review)}。")
    held = [u.name for u in c.units if u.unverified]
    if held:
        sentences.append(
            f"以单位名义发来、发件人未经验证的回复{len(held)}个（{named(held)}），"
            "暂不计为已报送，待办公室核实。"
        )
    doubtful = [(m, t) for m in c.measures for t in m.targets if t.implausible]
    if doubtful:
        metrics = named([f"{cite(m.number)}{t.metric}" for m, t in doubtful])
        sentences.append(f"报送数据明显不合常理、需核实的量化目标{len(doubtful)}项：{metrics}。")
    if not sentences:
        return "各单位均使用规定表格报送，未发现需核实的数据。"
    return "".join(sentences)


def supervision(c: Consolidation) -> str:
    """督办: the open cases listed below, by how they stand on their 13710 clocks."""
    items: Sequence[Mapping[str, Any]] = c.supervision
    if not items:
        return "截至本期无在办督办事项。"
    since = c.source.previous.due_at if c.source.previous else None
    new = sum(1 for i in items if since is None or _opened_after(i.get("opened"), since))
    counts = [
        ("本期新立", new),
        ("已办结待销号", sum(1 for i in items if i.get("status") == "resolved")),
        ("已升级", sum(1 for i in items if i.get("status") == "escalated")),
        ("待办公室审批升级", sum(1 for i in items if i.get("status") == "awaiting_approval")),
    ]
    overdue = [i for i in items if i.get("overdue")]
    text = f"在办督办事项{len(items)}件"
    shown = [f"{label}{count}件" for label, count in counts if count]
    if shown:
        text += "，其中" + "、".join(shown)
    text += "。"
    if overdue:
        units = [str(i["unit"]) for i in overdue]
        counted = [
            f"{u}{units.count(u)}件" if units.count(u) > 1 else u for u in dict.fromkeys(units)
        ]
        text += f"超过13710时限的{len(overdue)}件（{named(counted)}），请督促办理。"
    else:
        text += "均在13710时限内。"
    return text


def _opened_after(opened: Any, since: datetime) -> bool:
    return isinstance(opened, date) and opened > since.astimezone(SHANGHAI).date()


def judgement(c: Consolidation) -> list[Paragraph]:
    """The four paragraphs of 综合研判, in the notice's order."""
    return [
        Paragraph("报送情况", reporting(c)),
        Paragraph("推进情况", progress(c)),
        Paragraph("台账质量", quality(c)),
        Paragraph("督办情况", supervision(c)),
    ]
