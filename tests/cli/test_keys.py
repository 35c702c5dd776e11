"""``taskforce db init`` and ``taskforce keys rotate`` as the office runs them."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from sqlmodel import delete, func, select

from config.settings import Settings
from models.db import session_scope
from models.issued_forms import IssuedForm
from tasks.forms.keys import form_keys, key_file, key_id
from tasks.forms.layout import form_path
from tasks.reminders.steps import prepare_reminders
from tests.helpers import invoke_cli, load_seeds
from tests.intake_helpers import at

POLICY = "lingchuan-2023"


def _issued_count(settings: Settings) -> int:
    with session_scope(settings) as session:
        return session.exec(select(func.count()).select_from(IssuedForm)).one()


def test_db_init_records_forms_made_before_forms_were_recorded(tmp_path: Path) -> None:
    """An office upgrading with forms in circulation: `db init` records the forms in var/forms
    that its keys verify, and names the ones they do not (made with a key since lost)."""
    settings = load_seeds(Settings(var_dir=tmp_path / "var"), POLICY)
    prepare_reminders(settings, POLICY, at(date(2023, 2, 23)), "monthly")
    made = _issued_count(settings)
    assert made > 30
    with session_scope(settings) as session:  # as before issue 17: no record of any form
        session.exec(delete(IssuedForm))
    stranger = form_path(settings, POLICY, "monthly-progress", "2023-02", "rsj")
    stranger.write_bytes(b"not a form the office's keys verify")

    result = invoke_cli(tmp_path, "db", "init")

    assert result.returncode == 0, result.stderr
    assert f"已将此前生成的 {made - 1} 份表格登记" in result.stdout
    assert "1 份表格无法用本机密钥校验" in result.stdout and str(stranger) in result.stdout
    assert _issued_count(settings) == made - 1
    again = invoke_cli(tmp_path, "db", "init")
    assert "已将此前生成" not in again.stdout and _issued_count(settings) == made - 1


def test_db_init_names_the_key_never_prints_it(tmp_path: Path) -> None:
    result = invoke_cli(tmp_path, "db", "init")
    assert result.returncode == 0, result.stderr
    settings = Settings(var_dir=tmp_path / "var")
    key = form_keys(settings).current
    assert f"表格签名密钥已生成（编号 {key_id(key)}）" in result.stdout
    assert str(key_file(settings)) in result.stdout and key.decode() not in result.stdout
    rotated = invoke_cli(tmp_path, "keys", "rotate")
    assert rotated.returncode == 0 and "已生成新的表格签名密钥" in rotated.stdout
    assert f"原密钥（编号 {key_id(key)}）已转为历史密钥" in rotated.stdout
    assert form_keys(settings).current.decode() not in rotated.stdout


def test_keys_rotate_with_the_key_in_the_environment_says_what_to_do(tmp_path: Path) -> None:
    result = invoke_cli(tmp_path, "keys", "rotate", env={"TASKFORCE_FORM_KEY": "x" * 40})
    assert result.returncode == 2 and "TASKFORCE_FORM_PREVIOUS_KEYS" in result.stderr
    assert "x" * 40 not in result.stderr + result.stdout
    assert not key_file(Settings(var_dir=tmp_path / "var")).exists()
