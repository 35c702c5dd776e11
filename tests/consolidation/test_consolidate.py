"""Consolidating a synthetic month of each seed: the numbers the bulletin is built from."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from config.settings import Settings
from models.consolidation_store import load_consolidation_input
from models.db import session_scope
from tasks.consolidation.consolidate import consolidate
from tests import consolidation_fixture
from tests.consolidation_fixture import FIXTURES, load_month
from tests.helpers import load_seeds


def _consolidate(settings: Settings, name: str):  # type: ignore[no-untyped-def]
    spec = load_month(settings, name)
    with session_scope(settings) as session:
        data = load_consolidation_input(session, spec["policy"], period=None, as_of=spec["as_of"])
    return spec, consolidate(data)


def test_lingchuan_february(settings: Settings) -> None:
    load_seeds(settings, "lingchuan-2023")
    _, c = _consolidate(settings, "lingchuan-2023-02")
    assert c.source.period == "2023-02"  # the cycle due most recently before as_of
    assert dict(c.counts) == {
        "on_time": 36, "late": 2, "missing": 2, "rejected": 1, "needs_review": 1,
        "unverified": 0, "obligated": 41,
    }  # fmt: skip
    # 县科技局 reported after as_of: missing for now. 县商务局's Word reply counts, on time.
    by_code = {u.code: u for u in c.units}
    assert (by_code["kjj"].state, by_code["swj"].state, by_code["swj"].needs_review) == (
        "missing", "on_time", True
    )  # fmt: skip
    assert (by_code["rsj"].state, by_code["rsj"].late_working_days) == ("late", 2)
    assert (by_code["zjj"].late_working_days, by_code["wlj"].state) == (1, "rejected")
    assert round(c.on_time_rate, 4) == round(36 / 41, 4)
    # Coal output: 县能源局 reports 8 万吨 (5 %), another lead unit 32 (20 %): the largest counts,
    # never the sum; 16.2 % of the year has gone, so the target is green, but 县能源局 reports
    # 滞后, which makes the measure yellow.
    coal = next(m for m in c.measures if m.number == "1")
    assert coal.lead_units[0] == "县能源局" and coal.status == "滞后"
    first = coal.targets[0]
    assert len(coal.lead_units) > 1 and first.schedule_share == 59 / 365
    assert (first.reached, first.done_share, first.points_behind) == (32.0, 0.2, -3.8)
    assert (first.light, coal.light) == ("green", "yellow")
    assert ("县能源局", "2月份停产整顿煤矿2座。") in coal.notes
    assert [(p.unit, p.text[:6]) for p in c.problems][:1] == [("县能源局", "部分煤矿受安")]
    assert {g.name for g in c.groups} >= {"能源安全保供专项推进组", "工业复工复产专项推进组"}
    # The January ledger's quality: nobody sent one in this fixture.
    assert c.ledger and {row.state for row in c.ledger} == {"未报送"}


def test_support_units_do_not_dilute_completion(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 配合 unit's status never counts: 县工信科技局 reports 滞后 on every measure of its form,
    including 新绛's measure 19, which 县通联办 leads and reports 推进中."""
    spec = yaml.safe_load((FIXTURES / "xinjiang-2022-11.yaml").read_text(encoding="utf-8"))
    spec["units"]["gxkjj"] = {"status": "滞后", "share": 0.1}
    (tmp_path / "support.yaml").write_text(yaml.safe_dump(spec, allow_unicode=True), "utf-8")
    monkeypatch.setattr(consolidation_fixture, "FIXTURES", tmp_path)
    load_seeds(settings, "xinjiang-2022")
    _, c = _consolidate(settings, "support")

    supported = [m for m in c.measures if "县工信科技局" in m.support_units]
    assert {m.number for m in supported} == {"12", "19", "25", "35"}
    nineteen = next(m for m in c.measures if m.number == "19")
    assert nineteen.lead_units == ("县通联办",) and nineteen.reports == (("县通联办", "推进中"),)
    # No target, and no 滞后 of its own: no light (a counted 滞后 would make it yellow).
    assert (nineteen.status, nineteen.lead_reported, nineteen.light) == ("推进中", 1, "none")
    for m in supported:
        assert [unit for unit, _ in m.reports] == list(m.lead_units), m.number
        assert m.status != "滞后", m.number
    # Where it leads, its 滞后 does count.
    led = [m for m in c.measures if "县工信科技局" in m.lead_units]
    assert led and all(m.status == "滞后" for m in led)


def test_xinjiang_november(settings: Settings) -> None:
    load_seeds(settings, "xinjiang-2022")
    _, c = _consolidate(settings, "xinjiang-2022-11")
    assert c.source.period == "2022-11"
    assert (c.counts["missing"], c.counts["late"], c.counts["needs_review"]) == (1, 1, 1)
    assert c.counts["obligated"] == 42 and not c.ledger
    transport = [m for m in c.measures if "县交通运输局" in m.lead_units]
    assert transport and {m.status for m in transport} == {"滞后"}
