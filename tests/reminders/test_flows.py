"""The reminder flows under a real (temporary) Prefect server: results and the office's artifact.

Few tests here on purpose: the harness costs ~15 s to start; the logic is tested without it.
"""

from __future__ import annotations

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

from config.settings import Settings
from flows.checklist import checklist_flow
from flows.monthly_reports import monthly_reports_flow
from tests.helpers import load_seeds
from tests.smtp_server import SmtpServer


async def test_flows_send_and_leave_an_artifact(
    prefect_server: None,
    settings: Settings,
    smtp_server: SmtpServer,
) -> None:
    load_seeds(settings, "lingchuan-2023")
    settings = settings.model_copy(update={"smtp": smtp_server.smtp_settings()})

    result = await checklist_flow("lingchuan-2023", "2023-01-17T09:00", settings=settings)
    assert result["queued"] == result["sent"] == len(smtp_server.messages) > 60
    again = await checklist_flow("lingchuan-2023", "2023-01-17T09:00", settings=settings)
    assert again["queued"] == again["sent"] == 0 and again["already"] == result["sent"]
    monthly = await monthly_reports_flow("lingchuan-2023", "2023-01-17T09:00", settings=settings)
    assert monthly["queued"] == 0  # no monthly cycle opens that day

    async with get_client() as client:
        artifacts = await client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["reminders-lingchuan-2023"]))
        )
    markdowns = [a.data for a in artifacts if isinstance(a.data, str)]
    assert any("发送结果" in m and "rsj@lingchuan.example.org" in m for m in markdowns)
    assert any("未重复发送" in m and "县人社局" in m for m in markdowns)
