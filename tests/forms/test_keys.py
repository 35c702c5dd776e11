"""The install's form keys: where each comes from, rotation, and a form verified by the key that
signed it; and the pure check that a validly signed form was one the office issued, in time."""

from __future__ import annotations

import os
import stat
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from config.errors import FormSignatureError
from config.settings import Settings
from tasks.calendar import SHANGHAI
from tasks.forms.build import build_form, build_signed_form
from tasks.forms.keys import (
    FormKeyError,
    FormKeys,
    form_keys,
    key_file,
    key_id,
    rotate_key_file,
)
from tasks.forms.layout import form_spec_from_context
from tasks.forms.read import read_form_metadata
from tasks.intake.decide import CycleInfo, IntakeContext, UnitInfo, _not_issued
from tests.helpers import form_context


def _settings(tmp_path: Path, **values: object) -> Settings:
    return Settings(var_dir=tmp_path / "var", **values)  # type: ignore[arg-type]


def _form(key: bytes) -> bytes:
    context = form_context(
        "lingchuan-2023", "monthly-progress", "县人社局", "2023-02", "2023年2月", date(2023, 3, 5)
    )
    return build_form(form_spec_from_context(context), key)


def test_the_key_file_is_made_once_and_read_back(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    assert not key_file(settings).exists()
    first = form_keys(settings)
    assert first == form_keys(settings) and first.previous == ()
    assert len(first.current) == 43  # token_urlsafe(32)
    assert stat.S_IMODE(key_file(settings).stat().st_mode) == 0o600
    assert form_keys(_settings(tmp_path / "other")).current != first.current  # per install


def test_the_environment_key_wins_and_no_file_is_made(tmp_path: Path) -> None:
    settings = _settings(
        tmp_path, form_key=SecretStr(" k" * 20), form_previous_keys=SecretStr("old-1, old-2,")
    )
    keys = form_keys(settings)
    assert keys == FormKeys(("k " * 19 + "k").encode(), (b"old-1", b"old-2"))
    assert not key_file(settings).exists()
    with pytest.raises(FormKeyError, match="TASKFORCE_FORM_PREVIOUS_KEYS"):
        rotate_key_file(settings)


def test_a_blank_environment_key_is_no_key(tmp_path: Path) -> None:
    assert form_keys(_settings(tmp_path, form_key=SecretStr("  "))).current
    assert key_file(_settings(tmp_path)).exists()


def test_rotation_keeps_every_earlier_key_newest_first(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    first = form_keys(settings).current
    rotation = rotate_key_file(settings)
    second = form_keys(settings).current
    rotate_key_file(settings)
    keys = form_keys(settings)
    assert keys.previous == (second, first) and keys.current not in (first, second)
    assert (rotation.old_id, rotation.new_id, rotation.previous_count) == (
        key_id(first),
        key_id(second),
        1,
    )
    assert keys.verifying == (keys.current, second, first)


def test_a_form_is_verified_by_the_key_that_signed_it(tmp_path: Path) -> None:
    old, new = b"o" * 43, b"n" * 43
    form = _form(old)
    meta = read_form_metadata(form, FormKeys(new, (old,)))
    assert meta.key_id == key_id(old) and meta.period == "2023-02"
    _, digest = build_signed_form(form_spec_from_context(form_context(
        "lingchuan-2023", "monthly-progress", "县人社局", "2023-02", "2023年2月", date(2023, 3, 5)
    )), new)  # fmt: skip
    assert meta.digest == digest  # the same signed fields under another key: the same digest
    with pytest.raises(FormSignatureError):
        read_form_metadata(form, FormKeys(new))


def test_unusable_key_files_are_one_clear_error(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    form_keys(settings)
    key_file(settings).write_text("\n")
    with pytest.raises(FormKeyError, match="为空"):
        form_keys(settings)
    os.chmod(key_file(settings), 0o640)
    with pytest.raises(FormKeyError, match="chmod 600"):
        form_keys(settings)


def test_an_unwritable_data_directory_is_one_clear_error(tmp_path: Path) -> None:
    """Without write permission; for root, whom permissions do not stop, under /proc."""
    (tmp_path / "var").mkdir(mode=0o500)
    settings = _settings(tmp_path)
    if os.geteuid() == 0:
        settings = settings.model_copy(update={"var_dir": Path("/proc/taskforce-var")})
    with pytest.raises(FormKeyError, match="TASKFORCE_VAR_DIR"):
        form_keys(settings)


def test_production_refuses_a_short_hand_set_key() -> None:
    with pytest.raises(ValidationError, match="TASKFORCE_FORM_KEY 至少应有 32 个字符"):
        Settings(production=True, form_key=SecretStr("secret"))
    assert Settings(production=True).form_key is None
    assert Settings(form_key=SecretStr("secret")).form_key is not None  # tests, development


# ---------------------------------------------------------------------------------------------
# decide: a validly signed form the office did not issue, or not yet


def _context(issued: frozenset[str]) -> IntakeContext:
    due = datetime(2023, 3, 5, 23, 59, tzinfo=SHANGHAI)
    cycle = CycleInfo("monthly-progress", "2023-02", date(2023, 2, 23), due.date(), due)
    return IntakeContext(
        policy_code="lingchuan-2023",
        units={"rsj": UnitInfo("rsj", "县人社局", frozenset({"rsj@x"}), frozenset())},
        unit_by_mailbox={"rsj@x": "rsj"},
        cycles={("monthly-progress", "2023-02"): cycle},
        unit_cycles={"rsj": (("monthly-progress", "2023-02"),)},
        notices={},
        submitted=(),
        issued=issued,
    )


@pytest.mark.parametrize(
    ("issued", "received", "reason"),
    [
        (True, datetime(2023, 3, 1, 10, tzinfo=SHANGHAI), ""),
        (True, datetime(2023, 2, 23, 0, 5, tzinfo=SHANGHAI), ""),  # the day it opens
        (True, datetime(2023, 2, 22, 23, 50, tzinfo=SHANGHAI), "才开始报送"),
        (True, datetime(2023, 1, 31, 10, tzinfo=SHANGHAI), "才开始报送"),
        (False, datetime(2023, 3, 1, 10, tzinfo=SHANGHAI), "不一致"),
    ],
    ids=["issued-in-time", "opening-day", "evening-before", "january", "never-issued"],
)
def test_a_signed_form_must_be_issued_and_its_cycle_open(
    issued: bool, received: datetime, reason: str
) -> None:
    meta = read_form_metadata(_form(b"k" * 43), b"k" * 43)
    ctx = _context(frozenset({meta.digest} if issued else {"0" * 64}))
    found = _not_issued(ctx, "报表.xlsx", meta, received)
    assert (reason in found) if reason else found == "", found


def test_the_utc_evening_before_opening_is_the_opening_day_in_beijing() -> None:
    """16:30 UTC on the 22nd is 00:30 on the 23rd in Beijing: the day the cycle opens."""
    meta = read_form_metadata(_form(b"k" * 43), b"k" * 43)
    ctx = _context(frozenset({meta.digest}))
    assert _not_issued(ctx, "报表.xlsx", meta, datetime(2023, 2, 22, 16, 30, tzinfo=UTC)) == ""
    assert "才开始报送" in _not_issued(
        ctx, "报表.xlsx", meta, datetime(2023, 2, 22, 15, 30, tzinfo=UTC)
    )
