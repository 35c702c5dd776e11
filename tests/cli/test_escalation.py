"""Escalation and cases from the command line, and the escalation flow's artifact.

The commands run in this process (``invoke_cli``), ``escalate`` on the session's Prefect server
and with a mail server to take its 催报 and notices (without one, each run waited out the
connection retries); one runs as a subprocess, for the exit status of the real entry point."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from config.settings import Settings
from tests.consolidation_fixture import load_month
from tests.helpers import invoke_cli, load_seeds, run_cli

if TYPE_CHECKING:
    from tests.smtp_server import SmtpServer

POLICY = "lingchuan-2023"


def test_escalate_and_decide_from_the_cli(
    tmp_path: Path, prefect_server: None, smtp_server: SmtpServer
) -> None:
    mail = {"TASKFORCE_SMTP_HOST": smtp_server.host, "TASKFORCE_SMTP_PORT": str(smtp_server.port)}
    settings = Settings(var_dir=tmp_path / "var")
    load_seeds(settings, POLICY)
    load_month(settings, "lingchuan-2023-02")
    result = invoke_cli(tmp_path, "escalate", "--policy", POLICY, "--as-of", "2023-03-06T10:00",
                        "--as-of", "2023-03-08T10:00", "--as-of", "2023-03-09T10:00",
                        env=mail)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "2023-03-08 10:00：催报" in result.stdout
    cases = json.loads(invoke_cli(tmp_path, "cases", "--policy", POLICY, "--json",
                              "--as-of", "2023-03-09T12:00").stdout)  # fmt: skip
    [jtj] = [c for c in cases if c["key"].endswith("2023-02/jtj/missing")]
    assert jtj["unit"] == "县交通局" and jtj["number"].startswith("陵专督〔2023〕")
    assert [c["deadline"] for c in jtj["clocks"]] == [
        "2023-03-08", "2023-03-13", "2023-03-17", "2023-04-10", None,
    ]  # fmt: skip
    assert (jtj["state"], jtj["pending_step"]) == ("awaiting_approval", "interview")
    [kjj] = [c for c in cases if c["key"].endswith("2023-02/kjj/missing")]
    assert kjj["state"] == "resolved" and kjj["light"] == "green"

    table = invoke_cli(tmp_path, "cases", "--policy", POLICY, "--open")
    assert "县交通局" in table.stdout and "待办公室审批" in table.stdout
    no_reason = invoke_cli(
        tmp_path, "cases", "extend", str(kjj["id"]), "--days", "3", "--reason", ""
    )
    assert no_reason.returncode == 2 and "理由" in no_reason.stderr
    extended = invoke_cli(
        tmp_path, "cases", "extend", str(jtj["id"]), "--days", "3", "--reason", "汛期"
    )
    assert extended.returncode == 0, extended.stderr
    approved = invoke_cli(tmp_path, "cases", "approve", str(jtj["id"]), "--by", "王杰")
    assert approved.returncode == 0 and "已升级" in approved.stdout
    twice = invoke_cli(tmp_path, "cases", "approve", str(jtj["id"]))
    assert twice.returncode == 2 and "没有待审批" in twice.stderr
    unknown = run_cli(tmp_path, "cases", "close", "99999")  # the process exits with 2
    assert unknown.returncode == 2 and "99999" in unknown.stderr
    after = json.loads(invoke_cli(tmp_path, "cases", "--policy", POLICY, "--json").stdout)
    [jtj2] = [c for c in after if c["id"] == jtj["id"]]
    assert jtj2["extension_days"] == 3 and jtj2["approved_steps"] == ["interview"]
    assert jtj2["clocks"][1]["deadline"] == "2023-03-16"  # 8 March + 3 + 3 working days
