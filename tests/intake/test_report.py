"""The intake run's artifact as the office reads it: one row per item, then every problem."""

from __future__ import annotations

from tasks.intake.report import intake_markdown
from tasks.intake.steps import IntakeSummary
from tests.helpers import markdown_cells


def test_rows_counts_and_problems() -> None:
    summary = IntakeSummary(policy="lingchuan-2023", source="Maildir var/maildir", duplicates=2)
    summary.lines = [
        {"received_at": "2023-03-02 09:00", "sender": "rsj@x.org", "unit": "县人社局",
         "obligation": "月度报告", "period": "2023-02", "version": 1, "outcome": "accepted",
         "late_working_days": 0, "errors": []},
        {"received_at": "2023-03-03 11:20", "sender": "wlj@x.org", "unit": "县文旅局",
         "obligation": "月度报告", "period": "2023-02", "version": 2, "outcome": "rejected",
         "late_working_days": 1,
         "errors": [{"sheet": "月度报告", "cell": "D7", "problem": "请填写完成值"}]},
        {"received_at": "2023-03-03 11:25", "sender": "x|y@z", "unit": "", "obligation": "",
         "period": "", "version": None, "outcome": "quarantined", "late_working_days": None,
         "errors": [{"problem": "发件人不是本县单位的登记邮箱"}]},
    ]  # fmt: skip
    markdown = intake_markdown("陵川 收取报送", summary)
    assert "本次处理 3 项（已受理 1，退回 1，隔离 1）；此前已收取、跳过 2 封。" in markdown
    rows = [markdown_cells(r) for r in markdown.splitlines() if r.startswith("| 2023")]
    assert [len(r) for r in rows] == [9, 9, 9]  # the sender's | does not add a column
    assert rows[1][4:] == ["2023-02", "2", "退回", "1", "1"]
    assert rows[2][1] == "x\\|y\\@z"  # escaped: no mailto: link made of what a stranger wrote
    assert "- 县文旅局：月度报告 D7 请填写完成值" in markdown
    assert "- x\\|y\\@z：发件人不是本县单位的登记邮箱" in markdown


def test_an_empty_run_has_no_table() -> None:
    markdown = intake_markdown("空", IntakeSummary(policy="p", source="IMAP"))
    assert "本次处理 0 项；此前已收取、跳过 0 封。" in markdown and "|" not in markdown


def test_rows_name_the_report_as_the_office_does() -> None:
    """A one-off report is shown by its name and due day, not its code and key "2023"."""
    summary = IntakeSummary(policy="lingchuan-2023", source="maildir", duplicates=0)
    summary.lines.append(
        {"item": 1, "received_at": "2023-01-19 10:00", "sender": "a@x.org", "subject": "s",
         "unit": "县能源局", "obligation": "taskforce-setup", "period": "2023",
         "obligation_name": "工作专班建立情况", "period_label": "2023年1月20日",
         "version": 1, "outcome": "accepted", "late_working_days": 0, "errors": []}
    )  # fmt: skip
    (row,) = [r for r in intake_markdown("t", summary).splitlines() if "县能源局" in r]
    assert markdown_cells(row)[2:5] == ["县能源局", "工作专班建立情况", "2023年1月20日"]


def test_the_run_ends_with_its_mail() -> None:
    summary = IntakeSummary(policy="p", source="IMAP")
    summary.mail = [
        "邮件服务器 127.0.0.1:25 无法连接（SMTPConnectError: [Errno 111]），1 封邮件仍待发送。",
        "邮件：已发送 0，失败 0，待发送 1（邮件服务器无法连接）",
    ]
    markdown = intake_markdown("陵川 收取报送", summary)
    assert markdown.endswith(
        "## 邮件发送\n\n"
        "- 邮件服务器 127.0.0.1:25 无法连接（SMTPConnectError: \\[Errno 111\\]），"
        "1 封邮件仍待发送。\n"
        "- 邮件：已发送 0，失败 0，待发送 1（邮件服务器无法连接）\n"
    )


def test_the_mail_line_is_on_top_and_under_its_heading() -> None:
    """The office sees first what became of the run's mail, as the command's last line says."""
    summary = IntakeSummary(policy="p", source="IMAP")
    summary.mail = [
        "邮件服务器 127.0.0.1:2525 无法连接（[Errno 111]），1 封邮件仍待发送，下次运行时重发。",
        "邮件：已发送 0，失败 0，待发送 1（邮件服务器无法连接）",
    ]
    markdown = intake_markdown("陵川 收取报送", summary)
    assert markdown.startswith(
        "> 邮件：已发送 0，失败 0，待发送 1（邮件服务器无法连接）\n\n# 陵川 收取报送\n"
    )
    _, _, section = markdown.partition("## 邮件发送\n\n")
    assert section.splitlines()[-1] == f"- {summary.mail[-1]}" and "\\[Errno 111\\]" in section
