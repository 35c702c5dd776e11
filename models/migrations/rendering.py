"""How migrations are compared and written: the options the environment and the models test share.

Revision files must not import the project (its column types move; an old revision has to keep
working after they do), so the project's types are written as the plain SQLAlchemy types they
store: ``UTCDateTime`` as ``sa.DateTime(timezone=True)``, SQLModel's ``AutoString`` as
``sa.String()``. The JSON columns are SQLAlchemy's own ``sa.JSON()`` already.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import types as sa_types
from sqlmodel.sql.sqltypes import AutoString

from models.types import UTCDateTime


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    """Write the project's column types as plain SQLAlchemy types."""
    if type_ != "type":
        return False
    if isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    if isinstance(obj, AutoString):
        return f"sa.String(length={obj.length})" if obj.length else "sa.String()"
    if isinstance(obj, sa_types.JSON):
        return "sa.JSON()"
    return False


# SQLite changes a table by copying it (batch mode): ALTER TABLE there can only add a column.
CONTEXT_OPTIONS: dict[str, Any] = {
    "render_as_batch": True,
    "compare_type": True,
    "render_item": render_item,
    "user_module_prefix": "sa.",
}
