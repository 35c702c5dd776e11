"""Tables on the console with nothing in a cell cut short.

Rich cuts a cell with "…" when its column is narrower than the text, and Chinese has no spaces
to wrap at, so a unit's whole name is one word to it: piped to a file, ``taskforce submissions``
printed ``人行陵川县支…``. :func:`whole` prepares a table before it is printed:

- names, codes and dates are never wrapped: only the free-text columns a command declared
  ``overflow="fold"`` (problems, excerpts) wrap, to no less than :data:`FOLDED_WIDTH` cells;
- piped (a file, grep, a script), the table is as wide as that needs, past the console's width
  if need be, so each row's names are whole on its first line;
- in a terminal too narrow for that, every cell folds onto further lines instead of being cut.
"""

from __future__ import annotations

from rich.measure import Measurement
from rich.table import Table

from flows.cli.common import out

FOLDED_WIDTH = 24  # cells a free-text column keeps when the names need the width


def whole(table: Table) -> Table:
    """The table, set up so that ``out.print`` shows every cell whole (see the module)."""
    for column in table.columns:
        if column.overflow != "fold":
            column.no_wrap = True
    needed = _width_needed(table)
    if needed <= out.width:
        return table
    if not out.is_terminal:
        table.width = needed  # `out` soft-wraps: a line wider than the console is not cropped
        return table
    # A terminal too narrow for the names: fold them too, rather than cut them.
    for column in table.columns:
        column.no_wrap = False
        column.overflow = "fold"
    return table


def _width_needed(table: Table) -> int:
    """The table's width with every column at its widest, but free text at FOLDED_WIDTH."""
    unbounded = out.options.update_width(1_000_000)
    natural = Measurement.get(out, unbounded, table).maximum
    spare = 0  # what the free-text columns give up by wrapping
    for column in table.columns:
        if column.overflow == "fold":
            widest = max(
                Measurement.get(out, unbounded, cell).maximum
                for cell in [column.header, *column.cells]
            )
            spare += max(0, widest - FOLDED_WIDTH)
    return natural - spare
