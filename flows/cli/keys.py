"""``taskforce keys``: the install's form-signing key (tasks/forms/keys.py)."""

from __future__ import annotations

import typer

from config.settings import Settings
from flows.cli.common import load_settings, out

# tasks.forms is imported inside the commands: `taskforce --help` and the other configuration
# commands start without it (tests/cli/test_layout.py).

keys_app = typer.Typer(help="表格签名密钥：rotate 更换密钥", no_args_is_help=True)


@keys_app.command("rotate")
def keys_rotate() -> None:
    """生成新的表格签名密钥：此后下发的表格用新密钥签名，原密钥转为历史密钥，
    已下发的表格交回时仍可校验。"""
    from tasks.forms.keys import rotate_key_file

    rotation = rotate_key_file(load_settings())
    out.print(
        f"已生成新的表格签名密钥（编号 {rotation.new_id}），此后下发的表格均用新密钥签名。"
        f"原密钥（编号 {rotation.old_id}）已转为历史密钥，此前下发的表格交回时仍可校验；"
        f"现有历史密钥 {rotation.previous_count} 个。密钥文件：{rotation.path}（仅本用户可读）。",
        markup=False,
    )


def form_lines(settings: Settings) -> list[str]:
    """What ``db init`` says of the form key and of forms made before they were recorded."""
    from tasks.reminders.steps import register_form_files

    lines = [form_key_line(settings)]
    recorded, refused = register_form_files(settings)
    if recorded:
        lines.append(f"已将此前生成的 {recorded} 份表格登记为本办下发的表格。")
    if refused:
        lines.append(
            f"{len(refused)} 份表格无法用本机密钥校验，未登记（交回时将被隔离），"
            f"例如 {refused[0]}：如曾使用其他密钥，请把该密钥加入 TASKFORCE_FORM_PREVIOUS_KEYS "
            "后重新运行 taskforce db init。"
        )
    return lines


def form_key_line(settings: Settings) -> str:
    """What ``db init`` says of the form key: made now, found, or set in the environment."""
    from tasks.forms.keys import ensure_key_file, key_file, key_id

    if settings.form_key is not None and settings.form_key.get_secret_value().strip():
        return "表格签名密钥：使用环境变量 TASKFORCE_FORM_KEY 所设的密钥。"
    key, created = ensure_key_file(settings)
    state = "已生成" if created else "已存在"
    return f"表格签名密钥{state}（编号 {key_id(key)}）：{key_file(settings)}（仅本用户可读）。"
