"""Text that came from outside (a mail, a file name, a cell), made safe to store and to show.

PostgreSQL refuses U+0000 in text and JSON, a terminal obeys ESC and OSC 8 sequences, and a
right-to-left override makes ``报表\u202excod.xlsx`` read as ``报表xlsx.docx``: none of them is
ever part of what a unit meant to say.
"""

from __future__ import annotations

import re

# C0 controls but tab and line breaks, DEL, C1 controls, and the bidirectional overrides and
# isolates (U+202A–U+202E, U+2066–U+2069) that reorder what a reader sees.
_CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_LINE_BREAKS = re.compile(r"[\t\r\n]+")


def clean_text(value: str) -> str:
    """A multi-line text (a mail body, a document's text): controls gone, tabs and lines kept."""
    return _CONTROLS.sub("", value)


def clean_line(value: str) -> str:
    """A one-line value (a header, a file name, a table cell): controls gone, breaks a space."""
    return _LINE_BREAKS.sub(" ", _CONTROLS.sub("", value))
