"""What an escalation plan asks for: the actions ``tasks/escalation/steps.py`` applies."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class SendOverdue:
    unit: str
    obligation: str
    period: str


@dataclass(frozen=True)
class OpenCase:
    case_key: str
    unit: str
    obligation: str
    period: str
    reason: str


@dataclass(frozen=True)
class ResolveCase:
    case_key: str
    note: str


@dataclass(frozen=True)
class ProposeStep:
    case_key: str
    step: Literal["supervision", "interview"]
    reason: str


Action = SendOverdue | OpenCase | ResolveCase | ProposeStep
