"""The reminder run's artifact as the office reads it: counts first, then one table per kind."""

from __future__ import annotations

from datetime import datetime

from tasks.calendar import SHANGHAI
from tasks.mail.outbox import DeliverySummary
from tasks.mail.smtp import DeliveryOutcome
from tasks.reminders.report import reminder_markdown
from tasks.reminders.steps import PrepareSummary
from tests.helpers import markdown_cells

NOW = datetime(2023, 1, 17, 9, 0, tzinfo=SHANGHAI)


def test_a_day_with_nothing_to_send_says_so() -> None:
    empty = DeliverySummary(outcomes=[], subjects={}, recipients={})
    markdown = reminder_markdown("陵川 报送提醒", PrepareSummary(as_of=NOW), empty)
    # The run's mail line on top, as the command ends with it (issue 20 §4), then the title.
    assert markdown.startswith("> 邮件：已发送 0，失败 0，待发送 0\n\n# 陵川 报送提醒\n")
    assert "发送成功 0 封，失败 0 封，待发送 0 封。" in markdown
    assert "今日无需发送通知。" in markdown and "##" not in markdown


def test_hostile_texts_stay_in_their_cells() -> None:
    """A reason or subject with ``|`` and Markdown markup must not break or restyle a table."""
    prepared = PrepareSummary(
        as_of=NOW,
        skipped=[{"unit": "县交通局", "obligation": "monthly-progress", "period": "2023-02",
                  "obligation_name": "月度进展情况报告", "period_label": "2023年2月",
                  "kind": "提醒", "key": "k", "reason": "无邮箱 | 请补充"}],
    )  # fmt: skip
    delivered = DeliverySummary(
        outcomes=[
            DeliveryOutcome("k1", "sent", 1, reply="250 OK", refused={"b@x.org": "550 无此用户"}),
            DeliveryOutcome("k2", "failed", 3, error="附件文件不存在：/var/forms/a_b.xlsx"),
        ],
        subjects={"k1": "关于*专班*建立情况"},
        recipients={"k1": "a@x.org, b@x.org"},
    )
    markdown = reminder_markdown("t", prepared, delivered)
    assert "（其中 1 封部分收件人被拒收）" in markdown and "跳过 1 个单位" in markdown
    rows = [line for line in markdown.splitlines() if line.startswith("| ")]
    by_first = {markdown_cells(row)[0]: markdown_cells(row) for row in rows}
    assert by_first["已发送（部分收件人被拒收）"] == [
        "已发送（部分收件人被拒收）", "a\\@x.org, b\\@x.org", "关于\\*专班\\*建立情况",
        "250 OK；部分收件人被拒收：b\\@x.org（550 无此用户）",
    ]  # fmt: skip
    assert by_first["发送失败"][2:] == ["k2", "附件文件不存在：/var/forms/a\\_b.xlsx"]
    # The office reads the report's name and label, not the keys
    assert by_first["县交通局"] == [
        "县交通局", "月度进展情况报告", "2023年2月", "无邮箱 \\| 请补充"
    ]  # fmt: skip


def test_a_stopped_batch_says_why_under_the_counts() -> None:
    held = DeliverySummary(
        outcomes=[DeliveryOutcome("k", "pending", 0, error="not sent", stop="sender")],
        subjects={"k": "【报送通知】县人社局"},
        recipients={"k": "rsj@x.org"},
    )
    stop = "邮件发送已停止：发件地址设置（TASKFORCE_SMTP_SENDER）为空。1 封邮件仍待发送。"
    markdown = reminder_markdown("t", PrepareSummary(as_of=NOW), held, stop)
    _, _, rest = markdown.partition("待发送 1 封。\n\n")
    shown = stop.replace("_", "\\_")  # markdown-escaped, as md_cell shows it
    assert markdown.startswith("> 邮件：已发送 0，失败 0，待发送 1（发件地址设置有误）\n\n# t\n")
    assert rest.startswith(f"**{shown}**\n") and "| 待发送 | rsj\\@x.org |" in rest
