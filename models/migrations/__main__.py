"""Write the next revision from the models: ``python -m models.migrations revision -m "what"``.

It runs the existing revisions on a scratch SQLite file, compares that with the models and
writes ``versions/r<N>_<what>.py`` (N = head + 1). Read what it wrote before committing:
a new NOT NULL column needs a ``server_default`` for the rows already there, and a rename
comes out as a drop and an add.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from alembic import command
from sqlalchemy import create_engine

from models.migrations import _script, alembic_config, upgrade


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m models.migrations")
    sub = parser.add_subparsers(dest="command", required=True)
    revision = sub.add_parser("revision", help="autogenerate the next revision from the models")
    revision.add_argument("-m", "--message", required=True)
    args = parser.parse_args()
    latest = _script().get_current_head()
    next_id = str(int(latest) + 1) if latest else "1"
    with tempfile.TemporaryDirectory() as scratch:
        engine = create_engine(f"sqlite:///{Path(scratch) / 'scratch.db'}")
        if latest:
            upgrade(engine)
        with engine.connect() as connection:
            command.revision(
                alembic_config(connection),
                message=args.message,
                autogenerate=True,
                rev_id=next_id,
            )
        engine.dispose()


if __name__ == "__main__":
    main()
