"""The office's view of an intake run, as markdown for a Prefect artifact."""

from __future__ import annotations

from tasks.intake.steps import ITEM_LABELS, STATUS_LABELS, IntakeSummary


def _escape(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def outcome_label(outcome: str) -> str:
    return STATUS_LABELS.get(outcome, ITEM_LABELS.get(outcome, outcome))


def intake_markdown(title: str, summary: IntakeSummary) -> str:
    """One row per submission or set-aside item; errors listed under the table."""
    counts = "，".join(
        f"{outcome_label(o)} {summary.count(o)}"
        for o in ("accepted", "rejected", "unstructured", "quarantined", "ignored", "error")
        if summary.count(o)
    )
    lines = [
        f"# {title}",
        "",
        f"来源：{summary.source}。本次处理 {len(summary.lines)} 项"
        + (f"（{counts}）" if counts else "")
        + f"；此前已收取、跳过 {summary.duplicates} 封。",
        "",
    ]
    if summary.lines:
        lines += [
            "| 收到时间 | 发件人 | 单位 | 报送事项 | 报告期 | 版本 | 结果 "
            "| 逾期（工作日） | 问题数 |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for line in summary.lines:
            lines.append(
                "| " + " | ".join(
                    _escape(v) for v in (
                        line["received_at"], line["sender"], line["unit"], line["obligation"],
                        line["period"], line["version"] or "", outcome_label(line["outcome"]),
                        line["late_working_days"] or "", len(line["errors"]) or "",
                    )
                ) + " |"
            )  # fmt: skip
        problems = [(line, e) for line in summary.lines for e in line["errors"]]
        if problems:
            lines += ["", "## 问题", ""]
            for line, error in problems:
                where = "".join(f"{error.get(k)} " for k in ("sheet", "cell") if error.get(k))
                lines.append(
                    f"- {_escape(line['unit'] or line['sender'])}：{where}{error['problem']}"
                )
    return "\n".join(lines) + "\n"
