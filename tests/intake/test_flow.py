"""The intake flow under a Prefect server: replies recorded, receipts sent, an artifact left."""

from __future__ import annotations

from datetime import UTC, date, datetime

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

from config.settings import Settings, use_settings
from flows.intake import intake_flow
from models.db import session_scope
from models.submission_view import submission_rows
from tasks.demo.bureaus import fill_form
from tasks.forms.keys import form_keys
from tasks.mail.outbox import deliver_outbox
from tasks.reminders.steps import prepare_reminders
from tests.helpers import load_seeds
from tests.intake_helpers import (
    XLSX,
    at,
    caught,
    form_of,
    office_catcher,
    office_mailbox,
    reply,
    send,
)

POLICY = "lingchuan-2023"


async def test_intake_flow_records_replies_and_leaves_an_artifact(
    prefect_server: None, settings: Settings
) -> None:
    load_seeds(settings, POLICY)
    key = form_keys(settings).current
    office = office_mailbox(settings, POLICY)
    with office_catcher(settings) as (catcher, settings):
        prepare_reminders(settings, POLICY, at(date(2023, 2, 23)), "monthly")
        await deliver_outbox(settings, POLICY, run_id="t", now=datetime.now(UTC))
        for sender in ("rsj@lingchuan.example.org", "fgj@lingchuan.example.org"):
            notice = caught(catcher.directory, sender)[-1]
            name, blank = form_of(notice)
            filled = fill_form(blank, key)
            await send(settings, reply(notice, sender=sender, office=office,
                                       attachments=[(name, filled, XLSX)]))  # fmt: skip
        await send(settings, reply(None, sender="stranger@example.com", office=office))
        with use_settings(settings):
            summary = await intake_flow(POLICY, "maildir")
            again = await intake_flow(POLICY, "maildir")
        receipts = [m for m in caught(catcher.directory, "lingchuan.example.org")
                    if str(m["Subject"]).startswith("【回执】")]  # fmt: skip
        alerts = caught(catcher.directory, office)
    assert sorted((x["outcome"], x["unit"]) for x in summary.lines) == sorted(
        [("accepted", "县发改局"), ("accepted", "县人社局"), ("quarantined", "")]
    )
    # The only new message is the office's own quarantine alert, which intake leaves alone.
    assert [(x["outcome"], x["sender"]) for x in again.lines] == [("ignored", settings.smtp.sender)]
    assert len(receipts) == 2
    quarantine = [m for m in alerts if str(m["Subject"]).startswith("【隔离】")]
    assert len(quarantine) == 1 and "stranger@example.com" in str(quarantine[0]["Subject"])
    with session_scope(settings) as session:
        rows = submission_rows(session, POLICY, "2023-02")
    [stranger] = [r for r in rows if r["unit_code"] == ""]
    assert (stranger["unit"], stranger["status"]) == ("stranger@example.com", "quarantined")
    assert "不在单位名录中" in stranger["errors"][0]["problem"]
    assert {r["status"] for r in rows if r["unit_code"] in ("rsj", "fgj")} == {"accepted"}
    async with get_client() as client:
        artifacts = await client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[f"intake-{POLICY}"]))
        )
    markdowns = [a.data for a in artifacts if isinstance(a.data, str)]
    assert any("县人社局" in m and "已受理" in m and "隔离" in m for m in markdowns)
