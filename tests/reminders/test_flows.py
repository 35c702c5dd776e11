"""The reminder flows under a real (temporary) Prefect server: results and the office's artifact.

Few tests here on purpose: the harness costs ~15 s to start; the logic is tested without it.
"""

from __future__ import annotations

from datetime import date
from email.header import decode_header, make_header

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

from config.settings import Settings, use_settings
from flows.reminders import reminders_flow
from tests.helpers import at, load_seeds
from tests.smtp_server import SmtpServer


async def test_flows_send_and_leave_an_artifact(
    prefect_server: None,
    settings: Settings,
    smtp_server: SmtpServer,
) -> None:
    load_seeds(settings, "lingchuan-2023")
    settings = settings.model_copy(update={"smtp": smtp_server.smtp_settings()})

    with use_settings(settings):
        result = await reminders_flow("lingchuan-2023", at(date(2023, 1, 17), 9))
    assert result["queued"] == result["sent"] == len(smtp_server.messages) > 60
    # No monthly cycle is open on 17 January: every mail is one of the two checklist reports.
    subjects = {
        str(make_header(decode_header(str(m.message["Subject"])))) for m in smtp_server.messages
    }
    assert subjects and all("进展情况报告" not in subject for subject in subjects), subjects
    assert all("专班建立情况" in s or "任务清单台账" in s for s in subjects), subjects
    with use_settings(settings):
        again = await reminders_flow("lingchuan-2023", at(date(2023, 1, 17), 9))
    assert again["queued"] == again["sent"] == 0 and again["already"] == result["sent"]

    async with get_client() as client:
        artifacts = await client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["reminders-lingchuan-2023"]))
        )
    # Other tests on the session's server run 陵川's reminders on other days: ours is 17 January.
    markdowns = [a.data for a in artifacts if isinstance(a.data, str) and "2023年1月17日" in a.data]
    assert any("发送结果" in m and "rsj\\@lingchuan.example.org" in m for m in markdowns)
    assert any("未重复发送" in m and "县人社局" in m for m in markdowns)
    # The one-off reports are named and labelled as the office calls them, not by their keys
    repeated = next(m for m in markdowns if "未重复发送" in m)
    assert "| 县人社局 | 工作专班建立情况 | 2023年1月20日 |" in repeated
    assert "| 2023 |" not in repeated and "taskforce-setup" not in repeated
