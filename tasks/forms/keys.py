"""The install's form-signing keys: where they live, how they are made, how they are rotated.

No key is written in the code. The current key comes from ``TASKFORCE_FORM_KEY`` when it is set,
else from ``<var_dir>/secrets/form-key``, made with ``secrets.token_urlsafe(32)`` by the first
command that needs it (``taskforce db init``, a reminder run, an intake run). Previous keys
(``TASKFORCE_FORM_PREVIOUS_KEYS``, comma-separated, and ``<var_dir>/secrets/form-keys-previous``,
one a line) still verify forms already sent; only the current key signs new ones.
``taskforce keys rotate`` moves the current file key to the previous list and makes a new one.

The secrets directory is 0700 and its files 0600. A key file is written whole under a temporary
name and linked into place, which fails if the name exists: two processes starting together both
read back the one key that won, never a half-written file.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import logging
import os
import secrets
import stat
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from config.errors import TaskforceError
from config.settings import Settings

logger = logging.getLogger(__name__)

SECRETS_DIR = "secrets"
KEY_FILE = "form-key"
PREVIOUS_FILE = "form-keys-previous"
_LOCK_FILE = ".keys.lock"


class FormKeyError(TaskforceError):
    """A key file that cannot be used: unreadable, empty, or readable by others."""


@dataclass(frozen=True)
class FormKeys:
    """The key that signs new forms, and the older ones that still verify forms already sent."""

    current: bytes
    previous: tuple[bytes, ...] = ()

    @property
    def verifying(self) -> tuple[bytes, ...]:
        """Current first, then the previous keys newest first, each once."""
        return tuple(dict.fromkeys((self.current, *self.previous)))


def key_id(key: bytes) -> str:
    """A short name of a key for records and messages; it does not reveal the key."""
    return hmac.new(key, b"taskforce form key id", hashlib.sha256).hexdigest()[:12]


def parse_key_list(text: str, separator: str) -> tuple[bytes, ...]:
    """Keys from a comma-separated setting or a file of one key a line; blanks dropped."""
    return tuple(k.strip().encode("utf-8") for k in text.split(separator) if k.strip())


def secrets_dir(settings: Settings) -> Path:
    return settings.var_dir / SECRETS_DIR


def key_file(settings: Settings) -> Path:
    return secrets_dir(settings) / KEY_FILE


def form_keys(settings: Settings) -> FormKeys:
    """The install's keys; the key file is made on first need when no key is configured."""
    previous: tuple[bytes, ...] = ()
    if settings.form_previous_keys is not None:
        previous = parse_key_list(settings.form_previous_keys.get_secret_value(), ",")
    previous_file = secrets_dir(settings) / PREVIOUS_FILE
    if previous_file.exists():
        previous += parse_key_list(_read_secret(previous_file), "\n")
    configured = "" if settings.form_key is None else settings.form_key.get_secret_value().strip()
    current = configured.encode("utf-8") if configured else ensure_key_file(settings)[0]
    return FormKeys(current, previous)


def ensure_key_file(settings: Settings) -> tuple[bytes, bool]:
    """The key in the key file, made now if there is none; and whether it was made now."""
    path = key_file(settings)
    if path.exists():
        return _read_key(path), False
    try:
        _private_dir(path.parent)
        created = _create_exclusive(path, secrets.token_urlsafe(32))
    except OSError as exc:
        raise FormKeyError(
            f"无法建立表格签名密钥文件 {path}：{exc.strerror or exc}"
            "（请检查数据目录 TASKFORCE_VAR_DIR 是否可写，或设置 TASKFORCE_FORM_KEY）"
        ) from None
    if created:
        logger.info("已生成报表签名密钥 %s，存于 %s", key_id(_read_key(path)), path)
    return _read_key(path), created


@dataclass(frozen=True)
class Rotation:
    """What ``rotate_key_file`` did, by key ids (never the keys)."""

    old_id: str
    new_id: str
    previous_count: int  # keys that still verify, besides the new one
    path: Path


def rotate_key_file(settings: Settings) -> Rotation:
    """Move the file's current key to the previous keys and make a new current key."""
    if settings.form_key is not None and settings.form_key.get_secret_value().strip():
        raise FormKeyError(
            "已设置 TASKFORCE_FORM_KEY，签名密钥由该环境变量提供，本命令不能轮换："
            "请把原值加入 TASKFORCE_FORM_PREVIOUS_KEYS（逗号分隔），再为 TASKFORCE_FORM_KEY "
            "设置新的随机值"
        )
    path = key_file(settings)
    try:
        return _rotate(settings, path)
    except OSError as exc:
        raise FormKeyError(f"无法轮换密钥文件 {path}：{exc.strerror or exc}") from None


def _rotate(settings: Settings, path: Path) -> Rotation:
    with _locked(path.parent):
        old, _ = ensure_key_file(settings)
        previous_path = path.parent / PREVIOUS_FILE
        kept = parse_key_list(_read_secret(previous_path), "\n") if previous_path.exists() else ()
        previous = tuple(dict.fromkeys((old, *kept)))
        # The old key is among the previous ones before the new one signs anything: a crash
        # between the two writes leaves the old key in both files, never lost.
        _write_replace(previous_path, "".join(k.decode("utf-8") + "\n" for k in previous))
        new = secrets.token_urlsafe(32)
        _write_replace(path, new)
    return Rotation(key_id(old), key_id(new.encode("utf-8")), len(previous), path)


# ---------------------------------------------------------------------------------------------
# Files


def _private_dir(directory: Path) -> None:
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    if stat.S_IMODE(directory.stat().st_mode) != 0o700:
        os.chmod(directory, 0o700)


def _temporary(path: Path, text: str) -> Path:
    """``text`` in a new 0600 file beside ``path``, flushed to disk."""
    partial = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(text)
        file.flush()
        os.fsync(file.fileno())
    return partial


def _create_exclusive(path: Path, text: str) -> bool:
    """Put a whole file at ``path`` unless one is there; True when this call made it."""
    partial = _temporary(path, text)
    try:
        os.link(partial, path)  # atomic, and fails when another process got there first
        return True
    except FileExistsError:
        return False
    finally:
        partial.unlink()


def _write_replace(path: Path, text: str) -> None:
    _private_dir(path.parent)
    os.replace(_temporary(path, text), path)


def _read_secret(path: Path) -> str:
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise FormKeyError(
                f"密钥文件 {path} 的权限为 {mode:o}，其他用户可读：请执行 chmod 600 {path}"
            )
        return path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise FormKeyError(f"无法读取密钥文件 {path}：{exc}") from None


def _read_key(path: Path) -> bytes:
    key = _read_secret(path).strip().encode("utf-8")
    if not key:
        raise FormKeyError(f"密钥文件 {path} 为空：请删除该文件后重新运行 taskforce db init")
    return key


@contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """One rotation at a time in this secrets directory."""
    _private_dir(directory)
    fd = os.open(directory / _LOCK_FILE, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
