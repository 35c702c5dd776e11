"""The office's approval form for proposed 约谈 / 报县政府督查 steps, and how its answer reads.

The escalation flow pauses with this form (Prefect renders it from the model's JSON schema in
the UI); one choice per case waiting for a decision, and who decides. The model is built per
run because the cases are; ``base`` is Prefect's ``RunInput`` in the flow, any pydantic model
in tests.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, Field, create_model

from tasks.escalation.cases import STEP_LABELS

Choice = Literal["同意", "不同意", "暂不决定"]
ACTIONS: dict[str, str] = {"同意": "approve", "不同意": "reject"}


@dataclass(frozen=True)
class Decision:
    case_id: int
    action: Literal["approve", "reject"]


def field_name(case_id: int | str) -> str:
    return f"case_{case_id}"


def approval_model(awaiting: Sequence[Mapping[str, Any]], base: type[BaseModel]) -> type[Any]:
    """A form with one 同意/不同意/暂不决定 choice per waiting case, plus 审批人 and 意见."""
    fields: dict[str, Any] = {
        field_name(case["case"]): (
            Choice,
            Field(
                default="暂不决定",
                title=f"{case.get('number') or '督办事项' + str(case['case'])} "
                f"{case['unit']}：{STEP_LABELS.get(case['step'], case['step'])}",
                description=str(case["reason"]),
            ),
        )
        for case in awaiting
    }
    fields["reviewer"] = (str, Field(min_length=1, title="审批人"))
    fields["note"] = (str, Field(default="", title="审批意见"))
    return create_model("督办升级审批", __base__=base, **fields)


def approval_description(policy_name: str, awaiting: Sequence[Mapping[str, Any]]) -> str:
    """The Markdown shown above the form: what is proposed and why."""
    lines = [
        f"### {policy_name}：待审批的升级建议（{len(awaiting)}项）",
        "",
        "| 督办事项 | 单位 | 建议 | 事由 |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {c.get('number') or c['case']} | {c['unit']} | "
        f"{STEP_LABELS.get(c['step'], c['step'])} | {c['reason']} |"
        for c in awaiting
    ]
    lines += ["", "逐项选择“同意”或“不同意”；选“暂不决定”的，事项保持待审批，次日运行时再次提请。"]
    return "\n".join(lines)


def decisions_from(answer: BaseModel, awaiting: Sequence[Mapping[str, Any]]) -> list[Decision]:
    """The cases the answer decides, in the order they were asked; 暂不决定 decides nothing."""
    chosen: list[Decision] = []
    for case in awaiting:
        choice = getattr(answer, field_name(case["case"]), "暂不决定")
        if choice in ACTIONS:
            chosen.append(Decision(int(case["case"]), ACTIONS[choice]))  # type: ignore[arg-type]
    return chosen
