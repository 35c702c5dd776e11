"""LibreOffice Calc driven over UNO, as a person edits a workbook: run by /usr/bin/python3 (which
has ``import uno``; the project's venv does not), started by ``tests.libreoffice.Calc``.

It starts one headless soffice with its own profile and then serves requests, one JSON object a
line on stdin, one JSON answer a line on stdout, so a test module pays for one soffice start:

    {"source": "/path/form.xlsx",
     "edits": [["月度报告", "D14", "pick", "推进中"], ["月度报告", "A9", "type", "=资金缺口较大"]],
     "meta": [["rename", "元数据"]],
     "save": [["/path/out.xlsx", "Calc MS Excel 2007 XML"], ["/path/out.ods", "calc8"]]}
    → {"ok": true} | {"error": "..."}

Edits: ``type`` enters the text as typed into the cell (XCell.setFormula: "42" becomes a number,
"2023-01-18" a date, "=…" a formula, anything else text); ``pick`` chooses an entry of the cell's
drop-down list (refused when the list lacks it); ``clear`` empties the cell. ``meta`` changes the
hidden metadata sheet as a person can in Calc: ``show`` (unhide), ``set`` NAME VALUE (unprotect and
overwrite the value beside NAME), ``rename`` NEW, ``move`` POSITION, ``delete``.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
from typing import Any

import uno
from com.sun.star.beans import PropertyValue

META_SHEET = "_meta"


def _property(name: str, value: Any) -> Any:
    prop = PropertyValue()
    prop.Name = name
    prop.Value = value
    return prop


def _choices(cell: Any) -> list[str]:
    """The entries of a cell's list validation: '"已完成";"推进中"' → ['已完成', '推进中']."""
    formula = cell.Validation.Formula1
    return [item.strip().strip('"') for item in formula.split(";") if item.strip()]


def _edit(sheets: Any, sheet: str, address: str, how: str, value: str) -> None:
    cell = sheets.getByName(sheet).getCellRangeByName(address)
    if how == "type":
        cell.setFormula(value)
    elif how == "pick":
        choices = _choices(cell)
        if value not in choices:
            raise ValueError(f"{sheet}!{address}: {value!r} not in the drop-down {choices}")
        cell.setString(value)
    elif how == "clear":
        cell.setString("")
    else:
        raise ValueError(f"unknown edit {how!r}")


def _meta(sheets: Any, op: str, *args: Any) -> None:
    sheet = sheets.getByName(META_SHEET)
    if op == "show":
        sheet.IsVisible = True
    elif op == "set":
        name, value = args
        sheet.unprotect("")
        for row in range(200):
            if sheet.getCellByPosition(0, row).getString() == name:
                sheet.getCellByPosition(1, row).setString(value)
                return
        raise ValueError(f"{META_SHEET} has no row {name!r}")
    elif op == "rename":
        sheet.Name = args[0]
    elif op == "move":
        sheets.moveByName(META_SHEET, int(args[0]))
    elif op == "delete":
        sheets.removeByName(META_SHEET)
    else:
        raise ValueError(f"unknown meta change {op!r}")


def _handle(desktop: Any, request: dict[str, Any]) -> None:
    url = uno.systemPathToFileUrl(request["source"])
    doc = desktop.loadComponentFromURL(url, "_blank", 0, (_property("Hidden", True),))
    if doc is None:
        raise ValueError(f"LibreOffice could not open {request['source']}")
    try:
        for sheet, address, how, value in request.get("edits", []):
            _edit(doc.Sheets, sheet, address, how, value)
        for change in request.get("meta", []):
            _meta(doc.Sheets, *change)
        doc.calculateAll()
        for path, filter_name in request["save"]:
            target = uno.systemPathToFileUrl(path)
            doc.storeToURL(target, (_property("FilterName", filter_name),))
    finally:
        doc.close(True)


def _connect(pipe: str, process: subprocess.Popen[bytes]) -> Any:
    local = uno.getComponentContext()
    resolver = local.ServiceManager.createInstanceWithContext(
        "com.sun.star.bridge.UnoUrlResolver", local
    )
    deadline = time.monotonic() + 120
    while True:
        try:
            return resolver.resolve(f"uno:pipe,name={pipe};urp;StarOffice.ComponentContext")
        except Exception:  # NoConnectException until soffice listens
            if process.poll() is not None or time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def main() -> int:
    """soffice_binary profile_url pipe_name"""
    binary, profile, pipe = sys.argv[1:4]
    process = subprocess.Popen(
        [binary, f"-env:UserInstallation={profile}", "--headless", "--invisible", "--norestore",
         "--nolockcheck", "--nodefault", f"--accept=pipe,name={pipe};urp;"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        context = _connect(pipe, process)
        desktop = context.ServiceManager.createInstanceWithContext(
            "com.sun.star.frame.Desktop", context
        )
        print(json.dumps({"ok": True, "ready": True}), flush=True)
        for line in sys.stdin:
            try:
                _handle(desktop, json.loads(line))
                answer: dict[str, Any] = {"ok": True}
            except Exception as exc:
                answer = {"error": f"{type(exc).__name__}: {exc}"}
            print(json.dumps(answer, ensure_ascii=False), flush=True)
        with contextlib.suppress(Exception):  # the bridge goes down with soffice
            desktop.terminate()
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
