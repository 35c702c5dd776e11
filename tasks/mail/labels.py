"""How the office names the outbox's mail kinds and states (``taskforce outbox``, digests)."""

from __future__ import annotations

# Notification.kind, in the order a mail goes out over a cycle.
KIND_LABELS = {
    "opening": "开始通知",
    "reminder": "提醒",
    "last_day": "截止日提醒",
    "overdue": "催报",
    "escalation": "督办单",
    "receipt": "回执",
    "rejection": "退回通知",
    "quarantine": "隔离通知",
    "oversize": "邮件过大告知",
    "bulletin": "通报",
    "delivery_failures": "投递失败通知",
}

# Notification.status
STATUS_LABELS = {
    "pending": "待发送",
    "sending": "发送中",
    "sent": "已发送",
    "failed": "发送失败",
    "cancelled": "已撤回",
}


def kind_label(kind: str) -> str:
    """The kind's Chinese name; a kind added later without a label shows as its code."""
    return KIND_LABELS.get(kind, kind)


def status_label(status: str) -> str:
    """The status's Chinese name (its code if unknown)."""
    return STATUS_LABELS.get(status, status)
