"""The escalation run's artifact as the office reads it: what was done, what waits for it."""

from __future__ import annotations

from datetime import datetime

from tasks.calendar import SHANGHAI
from tasks.escalation.report import escalation_markdown
from tasks.escalation.steps import EscalationSummary
from tests.helpers import markdown_cells


def test_sections_appear_only_when_there_is_something() -> None:
    summary = EscalationSummary(
        policy="lingchuan-2023", as_of=datetime(2023, 3, 6, 9, tzinfo=SHANGHAI),
        overdue=["县交通局 2023-02"], opened=["DB-2023-001 县交通局"],
        awaiting=[{"case": "DB-2023-001", "unit": "县交通局", "step": "supervision",
                   "reason": "逾期未报 | 第2条"}],
        commendations=["县财政局", "县住建局"],
    )  # fmt: skip
    markdown = escalation_markdown(summary)
    assert markdown.startswith("# lingchuan-2023 督办情况（2023-03-06 09:00）\n")
    assert "本次催报 1 个单位次，新立督办 1 件，已办结待销号 0 件，提请升级 0 件。" in markdown
    assert "## 催报\n\n- 县交通局 2023-02\n" in markdown
    assert "## 提请升级" not in markdown and "## 约谈名单" not in markdown
    [row] = [markdown_cells(r) for r in markdown.splitlines() if r.startswith("| DB-")]
    assert row[1] == "县交通局" and row[3] == "逾期未报 \\| 第2条"
    assert row[2] == "报县政府督查"  # the step's label, not its code
    assert "## 通报表扬名单\n\n县财政局、县住建局\n" in markdown


def test_the_run_ends_with_its_mail() -> None:
    summary = EscalationSummary(
        policy="lingchuan-2023", as_of=datetime(2023, 3, 6, 9, tzinfo=SHANGHAI),
        mail=["  失败：【催报】县交通局 → jtj@x.org（收件人被拒收：550 5.1.1 unknown）",
              "邮件：已发送 3，失败 1（收件人被拒收），待发送 0"],
    )  # fmt: skip
    assert escalation_markdown(summary).endswith(
        "## 邮件发送\n\n- 失败：【催报】县交通局 → jtj\\@x.org（收件人被拒收：550 5.1.1 unknown）\n"
        "- 邮件：已发送 3，失败 1（收件人被拒收），待发送 0\n"
    )
