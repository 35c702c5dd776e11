"""What a month's consolidation is published as: the 月度通报 and the leaders' mail.

Pure functions over a ``Consolidation`` (``tasks/consolidation/consolidate.py``): the
bulletin in Markdown (also the Prefect markdown artifact) and as one printable HTML page, and the
leaders' mail summary. The status matrix for a Prefect table artifact and the ``.xlsx`` summary
workbook are in ``tasks/consolidation/workbook.py``.

The wording is built here, once, so the Markdown and the HTML bulletin say the same; the
templates in ``templates/reports/`` only lay it out. Nothing reads the clock: dates come from
``c.source.as_of``, so the same consolidation gives the same bulletin.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from jinja2 import Environment

from tasks.calendar import SHANGHAI
from tasks.consolidation.consolidate import (
    LIGHT_LABELS,
    NOT_REPORTED,
    OTHER_GROUP,
    STATE_LABELS,
    STATUS_ORDER,
    Consolidation,
    MeasureFact,
    MeasureRow,
    PreviousCycle,
    TargetRow,
    TextItem,
)
from tasks.consolidation.judgement import cite, judgement, short_day
from tasks.cycles import period_words, report_title
from tasks.deadlines import DeadlineStanding, date_with_weekday
from tasks.render import md_cell, md_text, num, shared_environment

_ILLEGAL_IN_FILENAME = re.compile(r'[<>:"/\\|?*\x00-\x1f\x7f]')


# ---------------------------------------------------------------------------------------------
# Numbers and names as the bulletin writes them


def percent(value: Decimal | float, digits: int = 1) -> str:
    """0.878 → 87.8%: a share as a percentage, rounded half up as official figures are."""
    exact = value if isinstance(value, Decimal) else Decimal(repr(value))
    step = Decimal(1).scaleb(-digits)
    return f"{(exact * 100).quantize(step, rounding=ROUND_HALF_UP)}%"


def _share(part: int, whole: int) -> str:
    """36 of 41 → 87.8%; computed exactly, not through a float."""
    return percent(Decimal(part) / Decimal(whole)) if whole else percent(Decimal(0))


def on_time_rate(c: Consolidation) -> str:
    """按时报送率 as every output prints it: 36 of 41 → 87.8%."""
    return _share(c.counts["on_time"], c.counts["obligated"])


def counts_sentence(c: Consolidation) -> str:
    """应报送单位41个，按时报送36个，逾期报送2个，未报送2个，退回未改1个，按时报送率87.8%."""
    n = c.counts
    return (
        f"应报送单位{n['obligated']}个，按时报送{n['on_time']}个，逾期报送{n['late']}个，"
        f"未报送{n['missing']}个，退回未改{n['rejected']}个，"
        f"按时报送率{_share(n['on_time'], n['obligated'])}"
    )


def _previous_sentence(c: Consolidation) -> str:
    """上月（2023年2月）按时报送率90.2%: the figure 综合研判 compares with."""
    previous = c.source.previous
    if previous is None or not previous.obligated:
        return ""
    last = period_words(c.source.frequency).last
    share = _share(previous.on_time, previous.obligated)
    return f"{last}（{previous.period_label}）按时报送率{share}。"


def _review_sentence(c: Consolidation) -> str:
    count = c.counts["needs_review"]
    text = f"已报送单位中有{count}个未使用规定表格报送，待办公室审核确认。" if count else ""
    return text + unverified_sentence(c)


def unverified_sentence(c: Consolidation) -> str:
    """Replies under a unit's name whose sender is not authenticated: not counted, named."""
    names = [u.name for u in c.units if u.unverified]
    if not names:
        return ""
    return (
        f"另有{len(names)}个单位（{'、'.join(names)}）名义发来的回复未使用规定表格、"
        "发件人未经验证，暂不计为已报送，待办公室核实。"
    )


def issuer(c: Consolidation) -> str:
    """The body that issues the bulletin: 县工作专班办公室 of 陵川县 → 陵川县工作专班."""
    s = c.source
    body = s.office_name.removesuffix("办公室") or s.office_name or "工作专班"
    if body.startswith(s.county):
        return body
    if body.startswith("县") and s.county.endswith("县"):
        return s.county + body[1:]
    return s.county + body


def report_name(c: Consolidation) -> str:
    """2023年2月进展情况报告, 2022年11月工作总结 (``tasks.cycles.report_title``)."""
    return report_title(c.source.period_label, c.source.obligation_name)


def bulletin_title(c: Consolidation) -> str:
    """陵川县工作专班 2023年2月进展情况通报: the report's 报告 becomes 通报; 新绛's 工作总结
    gives 工作总结通报."""
    return f"{issuer(c)} {report_name(c).removesuffix('报告')}通报"


def workbook_filename(c: Consolidation) -> str:
    """2023年2月进展情况报告报送情况汇总表.xlsx: safe on Windows and in mail clients."""
    stem = f"{report_name(c)}报送情况汇总表"
    stem = _ILLEGAL_IN_FILENAME.sub("_", stem).strip(" .")[:80].rstrip(" .") or "报送情况汇总表"
    return f"{stem}.xlsx"


def _day(value: date) -> str:
    return f"{value.year}年{value.month}月{value.day}日"


def moment_text(value: datetime) -> str:
    """2023年3月3日 17:20, in Asia/Shanghai."""
    local = value.astimezone(SHANGHAI)
    return f"{_day(local.date())} {local.hour}:{local.minute:02d}"


def source_measures(c: Consolidation) -> dict[str, MeasureFact]:
    return {m.number: m for m in c.source.measures}


def target_direction(fact: MeasureFact | None, index: int) -> str:
    if fact is None or index >= len(fact.targets):
        return "at_least"
    return fact.targets[index].direction


def target_text(t: TargetRow, direction: str = "at_least") -> str:
    """全县煤炭全年产量：160万吨（2023年12月31日前）."""
    bound = "不高于" if direction == "at_most" else ""
    return f"{t.metric}：{bound}{num(t.target)}{t.unit_of_measure}（{_day(t.due)}前）"


def reached_text(t: TargetRow, direction: str = "at_least") -> str:
    """28万吨（17.5%）; 未报 when no lead unit gave a value; 100亿元（待核实） for a value that
    cannot be true (the reason is in the bulletin's 报送质量 section)."""
    if t.reached is None:
        return NOT_REPORTED
    text = f"{num(t.reached)}{t.unit_of_measure}"
    if t.implausible:
        return f"{text}（待核实）"
    if t.done_share is not None and direction != "at_most":
        text += f"（{percent(t.done_share)}）"
    return text


def behind_text(points: float | None) -> str:
    """12.3 behind schedule; 未落后 at or ahead of it; — when nothing was reported."""
    if points is None:
        return "—"
    return f"{points:.1f}" if points > 0 else "未落后"


def status_text(m: MeasureRow) -> str:
    if m.status is not None:
        return m.status
    return NOT_REPORTED if m.lead_reported == 0 else "未填报状态"


def _leads_text(m: MeasureRow) -> str:
    """The lead units; one whose report differs from the measure's status carries its own:
    县交通局（未报）、县财政局、崇文镇 under 推进中. Listing every unit's status would make a
    measure led by all twelve townships a page long."""
    if len(m.reports) <= 1:
        return "、".join(m.lead_units) or "—"
    shown = status_text(m)
    return "、".join(name if st == shown else f"{name}（{st}）" for name, st in m.reports)


def _first_lead(m: MeasureRow) -> str:
    """县能源局等3个单位: the Prefect UI never wraps a table cell, so its table names one."""
    if not m.lead_units:
        return "—"
    more = f"等{len(m.lead_units)}个单位" if len(m.lead_units) > 1 else ""
    return m.lead_units[0] + more


def _status_counts(pairs: Iterable[tuple[str, int]]) -> str:
    parts = [f"{status}{count}项" for status, count in pairs if count]
    return "、".join(parts) or "—"


# ---------------------------------------------------------------------------------------------
# The bulletin's content, shared by the Markdown and the HTML template


def _group_rows(c: Consolidation) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = [
        {
            "name": g.name,
            "units": g.units,
            "on_time": g.on_time,
            "late": g.late,
            "missing": g.missing,
            "rejected": g.rejected,
            "measures": g.measures,
            "statuses": _status_counts(g.by_status),
            "red": g.red,
            "yellow": g.yellow,
        }
        for g in c.groups
    ]
    # Measures in a section no group covers, and units leading none of a group's measures,
    # still belong in the table: every obligated unit is counted in some row.
    loose = [m for m in c.measures if not m.group]
    members = [u for u in c.units if not u.groups]
    if loose or members:
        by_status = [(s, sum(1 for m in loose if m.status == s)) for s in STATUS_ORDER]
        by_status.append((NOT_REPORTED, sum(1 for m in loose if m.status is None)))
        rows.append(
            {
                "name": OTHER_GROUP,
                "units": len(members),
                "on_time": sum(1 for u in members if u.state == "on_time"),
                "late": sum(1 for u in members if u.state == "late"),
                "missing": sum(1 for u in members if u.state == "missing"),
                "rejected": sum(1 for u in members if u.state == "rejected"),
                "measures": len(loose),
                "statuses": _status_counts(by_status),
                "red": sum(1 for m in loose if m.light == "red"),
                "yellow": sum(1 for m in loose if m.light == "yellow"),
            }
        )
    return rows


def _measure_rows(c: Consolidation) -> list[dict[str, Any]]:
    facts = source_measures(c)
    out: list[dict[str, Any]] = []
    for m in c.measures:
        fact = facts.get(m.number)
        targets = [
            {
                "target": target_text(t, target_direction(fact, i)),
                "reached": reached_text(t, target_direction(fact, i)),
                "schedule": percent(t.schedule_share),
                "behind": behind_text(t.points_behind),
                "light": t.light,
                "light_label": LIGHT_LABELS[t.light],
            }
            for i, t in enumerate(m.targets)
        ]
        if not targets:
            targets = [
                {
                    "target": "（无量化目标）",
                    "reached": "—",
                    "schedule": "—",
                    "behind": "—",
                    "light": m.light,
                    "light_label": LIGHT_LABELS[m.light],
                }
            ]
        out.append(
            {
                "number": m.number,
                "title": m.title,
                "group": m.group,
                "leads": _leads_text(m),
                "first_lead": _first_lead(m),
                "status": status_text(m),
                "support": "、".join(m.support_units) or "—",
                "light": m.light,
                "light_label": LIGHT_LABELS[m.light],
                "targets": targets,
            }
        )
    return out


def deadline_leads(m: MeasureRow) -> str:
    """The lead units a deadline row names: up to three, else the first two and the count
    (县文旅局、县财政局等14个单位); the measure table above lists them all."""
    if len(m.lead_units) <= 3:
        return "、".join(m.lead_units) or "—"
    return f"{'、'.join(m.lead_units[:2])}等{len(m.lead_units)}个单位"


def deadline_due_text(d: DeadlineStanding) -> str:
    """完成时限 as the table reads it: 2023年6月30日（星期五）; extended, 原定… 延至… and why;
    a policy window, 政策执行期至2023年4月30日（星期日）."""
    deadline = d.deadline
    if deadline.kind == "window":
        return f"政策执行期至{date_with_weekday(deadline.due)}"
    if not deadline.extended:
        return date_with_weekday(deadline.due)
    last = deadline.extensions[-1]
    return (
        f"原定{_day(deadline.original)}，经办公室同意延至{date_with_weekday(deadline.due)}"
        f"（延期理由：{last.reason}）"
    )


def deadline_note(d: DeadlineStanding) -> str:
    """The row's 提示: the light and why, or what a window's end means."""
    if d.deadline.kind == "window":
        return "到期后政策停止执行"
    if d.light is not None:
        return f"{LIGHT_LABELS[d.light]}（{d.label}）"
    return "已延期，未到期"


def deadline_rows(c: Consolidation) -> list[dict[str, Any]]:
    """临期和逾期事项, in ``Consolidation.deadline_items``' order (overdue first)."""
    rows: list[dict[str, Any]] = []
    for m in c.deadline_items:
        d = m.deadline
        assert d is not None
        rows.append(
            {
                "number": m.number,
                "measure": f"{cite(m.number)} {m.title}",
                "title": m.title,
                "leads": deadline_leads(m),
                "first_lead": _first_lead(m),
                "due": deadline_due_text(d),
                # The artifact's cells never wrap and its page is narrow: the number, the date
                # without the bulletin's year, the light beside the days; the extension's
                # reason is listed below the table.
                "short_measure": f"{m.number} {m.title}",
                "due_short": short_day(d.deadline.due, c.source.as_of.astimezone(SHANGHAI).year)
                + ("（已延期）" if d.deadline.extended else ""),
                "days_short": d.days_text
                + (
                    f"（{LIGHT_LABELS[d.light]}）"
                    if d.light
                    else "（政策到期）"
                    if d.deadline.kind == "window"
                    else ""
                ),
                "extension": (
                    f"{cite(m.number)}原定{_day(d.deadline.original)}，经办公室同意延至"
                    f"{_day(d.deadline.due)}，延期理由：{d.deadline.extensions[-1].reason}。"
                    if d.deadline.extended
                    else ""
                ),
                "days": d.days_text,
                "status": status_text(m) if m.lead_units else "—",
                "light": d.light or "none",
                "note": deadline_note(d),
            }
        )
    return rows


def _by_group(c: Consolidation, items: Sequence[TextItem]) -> list[dict[str, Any]]:
    """One block per group that has member units, in directory order, each with its units' texts
    (empty when none of them wrote anything: the template prints 无); then 其他 when some unit
    leads no group's measure. Nothing when no unit wrote anything (one sentence says so)."""
    if not items:
        return []
    names = [g.name for g in c.groups if g.units]
    if any(not u.groups for u in c.units) or any(i.group == OTHER_GROUP for i in items):
        names.append(OTHER_GROUP)
    return [
        {
            "group": name,
            "items": [{"unit": i.unit, "text": i.text} for i in items if i.group == name],
        }
        for name in names
    ]


def _late_lines(c: Consolidation) -> list[dict[str, str]]:
    """未报送 / 逾期报送 / 退回未改, each with its units in directory order."""
    lines: list[dict[str, str]] = []
    for state in ("missing", "late", "rejected"):
        units = [u for u in c.units if u.state == state]
        if not units:
            continue
        if state == "late":
            names = "、".join(f"{u.name}（逾期{u.late_working_days}个工作日）" for u in units)
        else:
            names = "、".join(u.name for u in units)
        lines.append({"label": f"{STATE_LABELS[state]}（{len(units)}个）", "units": names})
    return lines


def _ledger(c: Consolidation) -> dict[str, Any] | None:
    if not c.ledger:
        return None
    name = c.source.ledger.obligation_name if c.source.ledger else "任务清单台账"
    return {
        "intro": f"《{name}》各单位报送质量如下（完整行指各栏均已填写的措施行）：",
        "rows": [
            {
                "unit": r.unit,
                "state": r.state,
                "rows": r.rows,
                "complete": r.complete,
                "share": percent(r.share) if r.rows else "—",
            }
            for r in c.ledger
        ],
    }


def implausible_items(c: Consolidation) -> list[dict[str, str]]:
    """The reported values that cannot be true, for the office to check with the units."""
    facts = source_measures(c)
    items = []
    for m in c.measures:
        for i, t in enumerate(m.targets):
            if not t.implausible:
                continue
            direction = target_direction(facts.get(m.number), i)
            items.append(
                {
                    "measure": cite(m.number),
                    "metric": t.metric,
                    "text": (
                        f"{cite(m.number)}{t.metric}：报送{num(t.reached or 0)}"
                        f"{t.unit_of_measure}，目标{target_text(t, direction).split('：', 1)[1]}，"
                        f"{t.implausible}（报送单位：{'、'.join(t.reported_by) or '—'}）"
                    ),
                }
            )
    return items


def _quality(c: Consolidation) -> dict[str, Any] | None:
    """台账报送质量: values to verify, replies waiting for review, the ledger's completeness."""
    implausible = implausible_items(c)
    review = [u.name for u in c.units if u.needs_review]
    unverified = [u.name for u in c.units if u.unverified]
    ledger = _ledger(c)
    if not (implausible or review or unverified or ledger):
        return None
    return {
        "implausible": implausible,
        "review": review,
        "unverified": unverified,
        "ledger": ledger,
    }


def _mentions(items: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    return [
        {"unit": str(item.get("unit") or ""), "reason": str(item.get("reason") or "")}
        for item in items
    ]


def bulletin_context(c: Consolidation, earlier: Sequence[PreviousCycle] = ()) -> dict[str, Any]:
    """Everything the bulletin templates print, worded once for both formats; ``earlier``: the
    months before this one (oldest first) for the chart, else only last month."""
    from tasks.consolidation.chart import charts  # it formats with percent() from this module

    s = c.source
    return {
        "title": bulletin_title(c),
        "lead": (
            f"根据《{s.policy_title}》（{s.doc_number}）要求，现将{report_name(c)}"
            f"报送及各项措施推进情况通报如下（统计截至{moment_text(s.as_of)}）："
        ),
        "judgement": [{"label": p.label, "text": p.text} for p in judgement(c)],
        "overview": counts_sentence(c) + "。" + _previous_sentence(c),
        "review": _review_sentence(c),
        "groups": _group_rows(c),
        "measures": _measure_rows(c),
        "deadlines": deadline_rows(c),
        "deadline_note": (
            f"注：完成时限以办公室同意延期后的日期为准，按自然日计算；距完成时限{c.source.deadline_window_days}天"
            "以内且牵头单位未报送“已完成”的为临期（黄灯），超过完成时限仍未报送“已完成”的为逾期未完成"
            "（红灯），不论量化目标进度如何；政策执行期到期不亮灯，仅作提示。"
        ),
        "light_note": (
            "注：进展状态取各牵头/负责单位所报最滞后者，与之不同的单位在其后括注；"
            f"序时进度为目标期限已过时间占比（至{_day(s.covers_end)}）；量化目标完成进度"
            f"落后序时进度{num(s.yellow_points)}个百分点及以上为黄灯，"
            f"{num(s.red_points)}个百分点及以上为红灯。"
        ),
        # The artifact's table names one lead unit per measure, with no status in brackets.
        "short_light_note": (
            "注：进展状态取各牵头/负责单位所报最滞后者；灯取各量化目标中最滞后者，完成进度落后"
            f"序时进度{num(s.yellow_points)}个百分点及以上为黄灯，{num(s.red_points)}个百分点"
            "及以上为红灯"
            # The artifact's 灯 is the measure's: its deadline's light counts too.
            + ("；措施完成时限临期的为黄灯、逾期未完成的为红灯。" if c.deadline_items else "。")
        ),
        "problems": _by_group(c, c.problems),
        "next_steps": _by_group(c, c.next_steps),
        "late": _late_lines(c),
        "quality": _quality(c),
        "supervision": _mentions(c.supervision),
        "commendations": _mentions(c.commendations),
        "office": s.office_name,
        "as_of": s.as_of,
        "last_section": _last_section(c),
        "charts": charts(c, earlier),
    }


def _last_section(c: Consolidation) -> str:
    """The section the signature closes (HTML keeps the two on one page)."""
    for key, present in (
        ("commendations", c.commendations),
        ("supervision", c.supervision),
        ("quality", _quality(c)),
    ):
        if present:
            return key
    return "late"


# ---------------------------------------------------------------------------------------------
# Rendering (the Markdown escaping filters live in tasks/render.py)


def _environment(env: Environment | None) -> Environment:
    """The given environment (or the shared one) with the two Markdown filters added if missing."""
    env = env or shared_environment()
    env.filters.setdefault("md_cell", md_cell)
    env.filters.setdefault("md_text", md_text)
    return env


def bulletin_markdown(
    c: Consolidation,
    env: Environment | None = None,
    *,
    workbook: Path | None = None,
    pdf: Path | None = None,
) -> str:
    """The 月度通报 as GitHub-flavoured Markdown: the file, or with ``workbook`` the Prefect
    artifact, its tables narrowed to what fits the UI's page and the files' paths for the rest."""
    template = _environment(env).get_template("reports/bulletin.md")
    files = None
    if workbook is not None:
        files = {"workbook": str(workbook), "pdf": str(pdf) if pdf else ""}
    return template.render(bulletin_context(c), files=files)


def bulletin_html(
    c: Consolidation, env: Environment | None = None, earlier: Sequence[PreviousCycle] = ()
) -> str:
    """The 月度通报 as one printable HTML page (A4), with its charts (the PDF is made from it)."""
    template = _environment(env).get_template("reports/bulletin.html")
    return template.render(bulletin_context(c, earlier))


# ---------------------------------------------------------------------------------------------
# The leaders' mail


def summary_lines(c: Consolidation) -> list[str]:
    """The leaders' mail, numbered 一、二、… there: the bulletin's 综合研判, paragraph by
    paragraph (报送, 推进, 台账质量, 督办), so the mail and the attached bulletin say the same."""
    return [f"{p.label}。{p.text}" for p in judgement(c)]
