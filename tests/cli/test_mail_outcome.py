"""Every flow command ends with what became of its mail (issue 18 §3): 已发送 N，失败 N（原因），
待发送 N（原因）, with a line that says why sending stopped when it did. Mail still pending after
the run's retries makes the command exit 3, and the run's artifact opens with the same line
(issue 20 §4).

The commands run in this process on the session's Prefect server (``invoke_cli``), against a real
aiosmtpd server, or a port nobody listens on for a mail server that is down.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

from sqlmodel import select

from config.settings import Settings
from models import tables as t
from models.db import session_scope
from tests.consolidation_fixture import load_month
from tests.helpers import free_port, invoke_cli, load_seeds

if TYPE_CHECKING:
    from tests.smtp_server import SmtpServer

POLICY = "lingchuan-2023"


def seeded(tmp_path: Path) -> Settings:
    settings = Settings(var_dir=tmp_path / "var")
    load_seeds(settings, POLICY)
    return settings


def mail_to(server: SmtpServer) -> dict[str, str]:
    return {"TASKFORCE_SMTP_HOST": server.host, "TASKFORCE_SMTP_PORT": str(server.port)}


def artifact(key: str) -> str:
    """The markdown of the latest artifact with this key on the session's Prefect server."""
    from prefect import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    async def read() -> str:
        async with get_client() as client:
            [latest] = await client.read_latest_artifacts(
                artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key]))
            )
        return str(latest.data)

    return asyncio.run(read())


def statuses(settings: Settings) -> list[str]:
    with session_scope(settings) as session:
        return list(session.exec(select(t.Notification.status)).all())


def test_remind_with_an_empty_sender_holds_the_mail_and_sends_it_once_fixed(
    tmp_path: Path, prefect_server: None, smtp_server: SmtpServer
) -> None:
    settings = seeded(tmp_path)
    moment = ("--as-of", "2023-01-17T09:00")

    held = invoke_cli(tmp_path, "remind", "--policy", POLICY, *moment,
                      env={**mail_to(smtp_server), "TASKFORCE_SMTP_SENDER": ""})  # fmt: skip

    # Exit 3: mail it had to send still waits, so a cron wrapper notices (issue 20 §4).
    assert held.returncode == 3, held.stderr
    assert f"{len(statuses(settings))} 封邮件仍待发送，命令以退出码 3 结束" in held.stderr
    queued = len(statuses(settings))
    assert queued > 60  # the two checklist reports to every unit
    lines = held.stdout.splitlines()
    assert lines[0] == f"2023-01-17 09:00 报送提醒：新入发件箱 {queued}，此前已入箱 0，已报送跳过 0"
    assert lines[1] == (
        f"邮件发送已停止：发件地址设置（TASKFORCE_SMTP_SENDER）为空。{queued} 封邮件仍待发送，"
        "不计为发送失败，改正后再次运行本命令即可发出。"
    )
    assert lines[-1] == f"邮件：已发送 0，失败 0，待发送 {queued}（发件地址设置有误）"
    # Before: every mail of the day failed for good. Now they wait, untouched.
    assert set(statuses(settings)) == {"pending"} and smtp_server.messages == []
    assert artifact(f"reminders-{POLICY}").startswith(f"> {lines[-1]}\n\n# ")

    fixed = invoke_cli(tmp_path, "remind", "--policy", POLICY, *moment, env=mail_to(smtp_server))

    assert fixed.returncode == 0, fixed.stderr
    assert fixed.stdout.splitlines()[-1] == f"邮件：已发送 {queued}，失败 0，待发送 0"
    assert "退出码" not in fixed.stderr
    assert artifact(f"reminders-{POLICY}").startswith(f"> {fixed.stdout.splitlines()[-1]}\n")
    assert set(statuses(settings)) == {"sent"} and len(smtp_server.messages) == queued


def test_consolidate_with_the_mail_server_down_says_the_bulletin_waits(
    tmp_path: Path, prefect_server: None
) -> None:
    settings = seeded(tmp_path)
    spec = load_month(settings, "lingchuan-2023-02")
    down = {"TASKFORCE_SMTP_PORT": str(free_port()), "TASKFORCE_SMTP_BACKOFF_SECONDS": "0.01"}

    result = invoke_cli(tmp_path, "consolidate", "--policy", POLICY,
                        "--as-of", spec["as_of"].isoformat(), env=down)  # fmt: skip

    # The bulletin is made and stored; the mail waits for the server, and says so, in the
    # summary and by exit status 3 (before issue 20 the command exited 0: a cron wrapper saw
    # nothing wrong).
    assert result.returncode == 3, result.stderr
    assert "1 封邮件仍待发送，命令以退出码 3 结束" in result.stderr
    lines = result.stdout.splitlines()
    assert lines[-1] == "邮件：已发送 0，失败 0，待发送 1（邮件服务器无法连接）"
    assert any(
        line.startswith("  待发送：【通报】关于2023年2月进展情况报告报送及落实情况的通报 → ")
        for line in lines
    ), result.stdout
    assert any(line.startswith("邮件服务器 127.0.0.1:") and "1 封邮件仍待发送" in line
               for line in lines)  # fmt: skip
    assert statuses(settings) == ["pending"]
    # The bulletin's artifact in the UI opens with the same line; so does the delivery's.
    top = "> 邮件：已发送 0，失败 0，待发送 1（邮件服务器无法连接）\n\n"
    assert artifact(f"consolidation-{POLICY}-bulletin").startswith(top)
    assert artifact(f"delivery-{POLICY}").startswith(top)


def test_escalate_and_intake_end_with_the_mail_line(
    tmp_path: Path, prefect_server: None, smtp_server: SmtpServer
) -> None:
    settings = seeded(tmp_path)
    load_month(settings, "lingchuan-2023-02")
    smtp_server.refuse_recipient("jtj@lingchuan.example.org", "550 5.1.1 Mailbox unavailable")

    escalated = invoke_cli(tmp_path, "escalate", "--policy", POLICY,
                           "--as-of", "2023-03-06T10:00", env=mail_to(smtp_server))  # fmt: skip

    assert escalated.returncode == 0, escalated.stderr
    lines = escalated.stdout.splitlines()
    assert lines[0].startswith("2023-03-06 10:00：催报 ")
    sent = len(smtp_server.messages)
    # 县交通局's server refuses it: its four 催报 fail with the reply, each named; its three
    # 督办单 (to its head, the unit copied) go to the others; the office is told once.
    assert lines[-1] == (
        f"邮件：已发送 {sent}（其中 3 封部分收件人被拒收），失败 4（收件人被拒收），待发送 0"
    )
    refused = [line for line in lines if line.startswith("  失败：")]
    assert len(refused) == 4 and all(
        "【催报】县交通局" in line and "550 5.1.1 Mailbox unavailable" in line for line in refused
    )
    office = ("taskforce-office@lingchuan.example.org",)
    [digest] = [m for m in smtp_server.messages if "投递失败" in str(m.message["Subject"])]
    assert digest.rcpt_tos == office and "4封邮件未能送达" in str(digest.message["Subject"])

    # Failed for good is not pending: nothing waits, exit 0; the artifact opens with the line.
    assert "退出码" not in escalated.stderr
    assert artifact(f"escalation-{POLICY}").startswith(f"> {lines[-1]}\n\n# ")

    intake = invoke_cli(tmp_path, "intake", "--policy", POLICY, "--source", "maildir",
                        "--as-of", "2023-03-06T18:00", env=mail_to(smtp_server))  # fmt: skip
    assert intake.returncode == 0, intake.stderr
    assert intake.stdout.splitlines()[-1] == "邮件：已发送 0，失败 0，待发送 0"
    assert artifact(f"intake-{POLICY}").startswith("> 邮件：已发送 0，失败 0，待发送 0\n\n# ")


def test_escalate_and_intake_exit_3_while_the_mail_server_is_down(
    tmp_path: Path, prefect_server: None
) -> None:
    settings = seeded(tmp_path)
    load_month(settings, "lingchuan-2023-02")
    down = {"TASKFORCE_SMTP_PORT": str(free_port()), "TASKFORCE_SMTP_BACKOFF_SECONDS": "0.01"}

    escalated = invoke_cli(tmp_path, "escalate", "--policy", POLICY,
                           "--as-of", "2023-03-06T10:00", env=down)  # fmt: skip

    assert escalated.returncode == 3, escalated.stderr
    waiting = statuses(settings).count("pending")
    assert waiting > 0 and escalated.stdout.splitlines()[-1] == (
        f"邮件：已发送 0，失败 0，待发送 {waiting}（邮件服务器无法连接）"
    )
    assert f"{waiting} 封邮件仍待发送，命令以退出码 3 结束" in escalated.stderr
    # Intake sends nothing new, but the 催报 and 督办单 still wait: the exit status says so.
    intake = invoke_cli(tmp_path, "intake", "--policy", POLICY, "--source", "maildir",
                        "--as-of", "2023-03-06T18:00", env=down)  # fmt: skip
    assert intake.returncode == 3, intake.stderr
    last = intake.stdout.splitlines()[-1]
    assert last.startswith("邮件：已发送 0，失败 0，待发送 ")
    assert last.endswith("（邮件服务器无法连接）")
    assert "封邮件仍待发送，命令以退出码 3 结束" in intake.stderr
