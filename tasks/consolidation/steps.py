"""The steps of a consolidation run, as plain functions the Prefect wrappers and the CLI call.

Consolidate a cycle as of a moment → render the bulletin (HTML with its charts, Markdown) and the
workbook → record them as a version of the period's report (the same content is the same version;
a change, such as a late report, makes a new one and keeps the old files) → lay the HTML out as an
A4 PDF when this machine can print Chinese → queue the leaders' mail with the PDF and the workbook
attached (one mail per version, through the outbox; without a PDF, the HTML and the reason why).
"""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlmodel import col, select

from config.errors import NotFoundError
from config.settings import Settings
from models import tables as t
from models.consolidation_store import load_consolidation_input, record_report
from models.db import session_scope
from models.escalation_store import lag_rules, load_cases, load_escalation_inputs
from models.outbox import NewNotification, enqueue
from models.policy_store import get_policy, policy_cycles
from tasks.calendar import SHANGHAI, WorkingCalendar
from tasks.consolidation.annual import AnnualRollup, CaseCount, annual_rollup
from tasks.consolidation.annual_outputs import (
    annual_html,
    annual_markdown,
    annual_workbook,
    annual_workbook_filename,
)
from tasks.consolidation.bulletin import (
    bulletin_html,
    bulletin_markdown,
    report_name,
    summary_lines,
    workbook_filename,
)
from tasks.consolidation.consolidate import (
    Consolidation,
    ConsolidationInput,
    PreviousCycle,
    as_previous,
    consolidate,
)
from tasks.consolidation.pdf import bulletin_pdf
from tasks.consolidation.workbook import summary_workbook
from tasks.escalation.cases import STATUS_LABELS, STEP_LABELS
from tasks.escalation.plan import commended
from tasks.mail.notices import policy_context
from tasks.render import render_notice, shared_environment


@dataclass(frozen=True)
class ConsolidationResult:
    consolidation: Consolidation
    report_id: int
    version: int
    new_version: bool
    directory: Path
    files: tuple[Path, ...]  # bulletin.html, bulletin.md, the workbook, the PDF when made
    markdown: str  # the Prefect artifact's bulletin: narrow tables, the files' paths
    leaders: tuple[str, ...]  # who the bulletin mail goes to ("" when nobody is configured)
    mail: tuple[str, ...] = ()  # the run's mail outcome (tasks.mail.failures), set by the flow
    mail_pending: int = 0  # mails still pending after the run's delivery, set by the flow
    pdf_missing: str = ""  # why there is no PDF (no Chinese font, ...); "" when there is one
    pdf_remedy: str = ""  # what the office can do about it


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    partial.write_bytes(data)
    partial.replace(path)


def bulletin_filename(c: Consolidation, suffix: str = ".html") -> str:
    return f"{report_name(c).removesuffix('报告')}通报{suffix}"


def leaders_of(policy: t.Policy) -> list[str]:
    """The leaders' mailboxes in the policy file: the task force's leader and deputies."""
    force = policy.task_force_spec
    return [p.mailbox for p in (force.leader, *force.deputies) if p is not None and p.mailbox]


def summary_of(c: Consolidation) -> dict[str, Any]:
    return {
        **dict(c.counts),
        "on_time_rate": round(c.on_time_rate, 4),
        "submitted_share": round(c.submitted_share, 4),
        "red": sum(1 for m in c.measures if m.light == "red"),
        "yellow": sum(1 for m in c.measures if m.light == "yellow"),
    }


def run_consolidation(
    settings: Settings,
    policy_code: str,
    *,
    period: str | None,
    obligation: str | None,
    as_of: datetime,
    now: datetime,
) -> ConsolidationResult:
    """Consolidate, write the outputs of a new version if they changed, queue the leaders' mail."""
    env = shared_environment()
    with session_scope(settings) as session:
        data = load_consolidation_input(
            session,
            policy_code,
            period=period,
            obligation=obligation,
            as_of=as_of,
            yellow_points=settings.reports.yellow_points,
            red_points=settings.reports.red_points,
            plausible_factor=settings.reports.plausible_factor,
        )
        c = with_escalation_lists(session, settings, consolidate(data), as_of)
        earlier = earlier_months(session, settings, data)
        markdown = bulletin_markdown(c, env)
        html = bulletin_html(c, env, earlier)
        workbook = summary_workbook(c)
        digest = hashlib.sha256()
        for part in (markdown.encode(), html.encode(), workbook):
            digest.update(hashlib.sha256(part).digest())
        policy = get_policy(session, policy_code)
        base = settings.var_dir / "reports" / policy_code / data.period
        report, created = record_report(
            session,
            policy=policy,
            kind="monthly",
            obligation=data.obligation_code,
            period=data.period,
            as_of=as_of,
            content_sha256=digest.hexdigest(),
            directory_for=lambda version: base / f"v{version}",
            summary=summary_of(c),
            now=now,
        )
        directory = Path(report.directory)
        names = (bulletin_filename(c), "bulletin.md", workbook_filename(c))
        files = tuple(directory / name for name in names)
        pdf_path = directory / bulletin_filename(c, ".pdf")
        pdf_missing = pdf_remedy = ""
        if created or not all(f.exists() for f in (*files, pdf_path)):
            for path, content in zip(
                files, (html.encode(), markdown.encode(), workbook), strict=True
            ):
                _write(path, content)
            # Made from the HTML just written, so it is part of the same version's content.
            pdf = bulletin_pdf(html)
            if pdf.data is not None:
                _write(pdf_path, pdf.data)
            else:
                pdf_missing, pdf_remedy = pdf.missing, pdf.remedy
            report.files = [str(f) for f in (*files, pdf_path) if f.exists()]
        if pdf_path.exists():
            files += (pdf_path,)
        # The UI's page is narrower than the file's tables: the artifact names the files instead.
        artifact = bulletin_markdown(
            c, env, workbook=files[2], pdf=pdf_path if pdf_path.exists() else None
        )
        leaders = leaders_of(policy)
        if leaders:
            mail = _leaders_mail(env, c, policy, report, files, leaders, pdf_missing)
            enqueue(session, [mail], now=now)
        assert report.id is not None
        return ConsolidationResult(
            c, report.id, report.version, created, directory, files, artifact, tuple(leaders),
            pdf_missing=pdf_missing, pdf_remedy=pdf_remedy,
        )  # fmt: skip


def earlier_months(
    session: Any, settings: Settings, data: ConsolidationInput, *, months: int = 11
) -> tuple[PreviousCycle, ...]:
    """The cycles of the same obligation due before this one (the last ``months``, oldest first),
    each consolidated as of the same moment as this one: the chart's 各月按时报送率. Last month is
    the one ``data`` already holds; the others cost a load each, a year's at most."""
    current = session.exec(
        select(t.Cycle)
        .join(t.Obligation, col(t.Obligation.id) == t.Cycle.obligation_id)
        .join(t.Policy, col(t.Policy.id) == t.Obligation.policy_id)
        .where(t.Policy.code == data.policy_code, t.Obligation.code == data.obligation_code)
        .where(t.Cycle.period == data.period)
    ).one()
    cycles = session.exec(
        select(t.Cycle)
        .where(t.Cycle.obligation_id == current.obligation_id, col(t.Cycle.retired_at).is_(None))
        .where(col(t.Cycle.due_at) < current.due_at)
        .order_by(col(t.Cycle.due_at).desc())
        .limit(months)
    ).all()
    out = []
    for cycle in reversed(cycles):
        previous = data.previous
        if previous is not None and previous.period_label == cycle.period_label:
            out.append(previous)
            continue
        earlier = load_consolidation_input(
            session, data.policy_code, period=cycle.period, obligation=data.obligation_code,
            as_of=data.as_of, yellow_points=settings.reports.yellow_points,
            red_points=settings.reports.red_points,
            plausible_factor=settings.reports.plausible_factor, with_previous=False,
        )  # fmt: skip
        out.append(as_previous(consolidate(earlier)))
    return tuple(out)


def with_escalation_lists(
    session: Any, settings: Settings, c: Consolidation, as_of: datetime
) -> Consolidation:
    """The bulletin's 督办事项 and 通报表扬 lists, from the cases and the units' records."""
    calendar = WorkingCalendar.from_settings(settings)
    inputs = load_escalation_inputs(session, c.source.policy_code, as_of, calendar)
    names = {code: unit.name for code, unit in inputs.units.items()}
    supervision = []
    today = as_of.astimezone(SHANGHAI).date()
    for key, state in sorted(inputs.cases.items(), key=lambda kv: kv[1].opened):
        if state.status == "closed" or state.opened > today:
            continue
        steps = "、".join(STEP_LABELS[s] for s in state.approved_steps)
        overdue = "、".join(k.label.split("：", 1)[-1] for k in state.overdue_clocks(today))
        supervision.append(
            {
                "unit": names.get(key.split("/")[3], key.split("/")[3]),
                "reason": f"{inputs.case_rows[key].reason}（{STATUS_LABELS[state.status]}"
                + (f"，{steps}" if steps else "")
                + (f"；已超过时限：{overdue}" if overdue else "")
                + "）",
                "status": state.status,
                "opened": state.opened,
                "overdue": overdue,
            }
        )
    units = inputs.obligated.get(c.source.obligation_code, [])
    commendations = [
        {
            "unit": names[code],
            "reason": f"连续{inputs.rules.commend_cycles}期按时报送，各项措施无黄灯、红灯",
        }
        for code in commended(inputs.history, inputs.cases, inputs.rules, units)
    ]
    return replace(c, supervision=tuple(supervision), commendations=tuple(commendations))


def _leaders_mail(
    env: Any,
    c: Consolidation,
    policy: t.Policy,
    report: t.Report,
    files: tuple[Path, ...],
    leaders: list[str],
    pdf_missing: str = "",
) -> NewNotification:
    """The PDF to print and the workbook; without a PDF, the HTML bulletin (a browser prints it)
    and the reason. Not both bulletins: two copies of one text make a reader ask which counts,
    and many mail gateways strip or quarantine .html attachments."""
    office = policy.task_force_spec.office
    pdf = [f for f in files if f.suffix == ".pdf"]
    attached = [*(pdf or [files[0]]), files[2]]
    context = {
        "kind": "bulletin",
        "policy": policy_context(policy),
        "obligation": {"name": c.source.obligation_name},
        "office": {"name": office.name},
        "as_of": c.source.as_of.astimezone(SHANGHAI),
        "bulletin": {
            "period_label": c.source.period_label,
            "summary_lines": summary_lines(c),
            "attachments": [f.name for f in attached],
            "print_copy": pdf[0].name if pdf else "",
            "pdf_missing": pdf_missing,
        },
    }
    mail = render_notice(env, context)
    return NewNotification(
        idempotency_key=(
            f"{policy.code}/{c.source.obligation_code}/{c.source.period}/bulletin/v{report.version}"
        ),
        kind="bulletin",
        policy_id=policy.id,
        cycle_id=None,
        unit_id=None,
        to=leaders,
        cc=[office.mailbox],  # required in the policy file
        subject=mail.subject,
        body_text=mail.text,
        body_html=mail.html,
        attachments=[{"path": str(f), "filename": f.name} for f in attached],
    )


@dataclass(frozen=True)
class AnnualResult:
    rollup: AnnualRollup
    version: int
    new_version: bool
    directory: Path
    files: tuple[Path, ...]
    markdown: str


def _case_counts(
    session: Any, settings: Settings, policy: t.Policy, year: str, as_of: datetime
) -> dict[str, CaseCount]:
    """督办 cases per unit code as they stood at ``as_of``: opened in the year by then, and of
    those closed (销号) by then; a later case or event never changes an earlier roll-up."""
    calendar = WorkingCalendar.from_settings(settings)
    rules = lag_rules(policy)
    states, rows = load_cases(session, policy, calendar, rules.clock_days, until=as_of)
    codes = dict(session.exec(select(t.Unit.id, t.Unit.code)).all())
    counts: dict[str, CaseCount] = {}
    for key, state in states.items():
        if str(state.opened.year) != year:
            continue
        code = codes.get(rows[key].unit_id, str(rows[key].unit_id))
        before = counts.get(code, CaseCount(0, 0))
        counts[code] = CaseCount(before.opened + 1, before.closed + (state.status == "closed"))
    return counts


def run_annual(
    settings: Settings,
    policy_code: str,
    *,
    year: str,
    obligation: str | None,
    as_of: datetime,
    now: datetime,
) -> AnnualResult:
    """The year's roll-up from every monthly cycle of the year due by as_of."""
    env = shared_environment()
    with session_scope(settings) as session:
        policy = get_policy(session, policy_code)
        cycles = [
            (o, c)
            for o, c in policy_cycles(session, policy_code)
            if o.frequency == "monthly"
            and c.period.startswith(f"{year}-")
            and c.due_at <= as_of
            and (obligation is None or o.code == obligation)
        ]
        if not cycles:
            raise NotFoundError(
                f"截至 {as_of:%Y-%m-%d}，政策 {policy_code} 在 {year} 年没有到期的月度报告"
            )
        months = [
            consolidate(
                load_consolidation_input(
                    session, policy_code, period=c.period, obligation=o.code, as_of=as_of,
                    yellow_points=settings.reports.yellow_points,
                    red_points=settings.reports.red_points,
                    plausible_factor=settings.reports.plausible_factor,
                )
            )
            for o, c in cycles
        ]  # fmt: skip
        cases = _case_counts(session, settings, policy, year, as_of)
        rollup = annual_rollup(months, cases, year=year, as_of=as_of)
        markdown = annual_markdown(rollup, env)
        html = annual_html(rollup, env)
        workbook = annual_workbook(rollup)
        digest = hashlib.sha256()
        for part in (markdown.encode(), html.encode(), workbook):
            digest.update(hashlib.sha256(part).digest())
        base = settings.var_dir / "reports" / policy_code / year
        report, created = record_report(
            session, policy=policy, kind="annual", obligation=cycles[0][0].code, period=year,
            as_of=as_of, content_sha256=digest.hexdigest(),
            directory_for=lambda version: base / f"annual-v{version}",
            summary={"units": len(rollup.rows), "months": len(months)}, now=now,
        )  # fmt: skip
        directory = Path(report.directory)
        names = (f"{year}年度报送情况汇总.html", "annual.md", annual_workbook_filename(rollup))
        files = tuple(directory / name for name in names)
        if created or not all(f.exists() for f in files):
            for path, content in zip(
                files, (html.encode(), markdown.encode(), workbook), strict=True
            ):
                _write(path, content)
            report.files = [str(f) for f in files]
        return AnnualResult(rollup, report.version, created, directory, files, markdown)
