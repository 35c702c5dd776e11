"""The office's view of an escalation run, as markdown (artifact and CLI)."""

from __future__ import annotations

from tasks.escalation.cases import STEP_LABELS
from tasks.escalation.steps import EscalationSummary


def _escape(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def escalation_markdown(summary: EscalationSummary) -> str:
    lines = [
        f"# {summary.policy} 督办情况（{summary.as_of:%Y-%m-%d %H:%M}）",
        "",
        f"本次催报 {len(summary.overdue)} 个单位次，新立督办 {len(summary.opened)} 件，"
        f"已办结待销号 {len(summary.resolved)} 件，提请升级 {len(summary.proposed)} 件。",
    ]
    for title, items in (("催报", summary.overdue), ("新立督办", summary.opened),
                         ("提请升级", summary.proposed)):  # fmt: skip
        if items:
            lines += ["", f"## {title}", "", *(f"- {_escape(x)}" for x in items)]
    if summary.awaiting:
        lines += ["", "## 待办公室审批", "", "| 编号 | 单位 | 建议 | 事由 |", "|---|---|---|---|"]
        lines += [
            f"| {a['case']} | {_escape(a['unit'])} | {STEP_LABELS.get(a['step'], a['step'])} "
            f"| {_escape(a['reason'])} |"
            for a in summary.awaiting
        ]
        lines += ["", "审批：taskforce cases approve 编号 或 taskforce cases reject 编号"]
    if summary.decisions:
        lines += ["", "## 本次运行中的审批", "", *(f"- {_escape(x)}" for x in summary.decisions)]
    for title, entries in (
        ("报县政府督查名单", summary.supervision),
        ("约谈名单", summary.interview),
    ):
        if entries:
            lines += [
                "",
                f"## {title}",
                "",
                *(f"- {_escape(e['unit'])}：{_escape(e['reason'])}" for e in entries),
            ]
    if summary.commendations:
        lines += ["", "## 通报表扬名单", "", "、".join(summary.commendations)]
    return "\n".join(lines) + "\n"
