"""The frame typer draws around our help texts and usage errors, in Chinese.

Typer (0.29, with its own copy of click in ``typer._click``) writes the frame in English: the
panel titles and ``[default: …]`` are module constants of :mod:`typer.rich_utils`, "Usage: ",
"[OPTIONS]", the ``--help`` option's help and every usage error are literal strings in its click
copy. :func:`install` replaces them once, when :mod:`flows.cli` is imported; nothing else in the
CLI touches typer's internals. ``tests/cli/test_help.py`` walks every command's help and the usual
usage errors for English left over, so a typer upgrade that moves one of these fails there.

Option names (``--policy``) stay English: they are what the user types.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from rich import _wrap as rich_wrap
from rich.columns import Columns
from rich.markup import escape
from rich.panel import Panel
from rich.text import Text
from typer import _click, rich_utils
from typer import core as typer_core
from typer._click import core as click_core
from typer._click import decorators, exceptions, formatting

HELP_OPTION_HELP = "显示本说明后退出。"

# What typer prints as the type of an option's value (<str>, <list[int]>, <int range> …).
TYPE_LABELS = {
    "str": "文本",
    "int": "整数",
    "int range": "整数",
    "float": "数值",
    "float range": "数值",
    "path": "路径",
    "Path": "路径",
    "file": "文件",
    "dir": "目录",
    "datetime": "时间",
}

# A line break (or the space typer makes of one) between two Chinese characters or punctuation.
CJK_LINE_BREAK = re.compile(
    r"(?<=[\u3000-\u9fff\uff00-\uffef])[ \n](?=[\u3000-\u9fff\uff00-\uffef])"
)

# Where a help line may break: between any two Chinese characters, never inside a Latin word
# (--policy, Prefect), never before closing punctuation nor after opening punctuation.
_CJK = "\u3000-\u9fff\uff00-\uffef"
_OPENING = "（“‘《〈【「"
_CLOSING = "，。、；：？！）”’》〉】」"
CJK_WORD = re.compile(rf"\s*[{_OPENING}]*(?:[^\s{_CJK}]+|[{_CJK}])[{_CLOSING}]*\s*")

# Usage errors click and typer raise with a literal English message: pattern → Chinese.
USAGE_MESSAGES: list[tuple[re.Pattern[str], Callable[[re.Match[str]], str]]] = [
    (
        re.compile(r"No such command '(.+?)'\.(?: Did you mean (.+)\?)?$"),
        lambda m: f"没有 {m[1]} 这个命令。"
        + (f"是否要用 {_unquote(m[2])}？" if m[2] else ""),
    ),
    (re.compile(r"Missing command\.$"), lambda m: "缺少命令。"),
    (
        re.compile(r"Got unexpected extra argument\(s\) \((.*)\)$"),
        lambda m: f"多余的参数：{m[1]}。",
    ),
    (
        re.compile(r"Option '(.+?)' requires (?:an argument|(\d+) arguments)\.$"),
        lambda m: f"选项 {m[1]} 后面要跟" + (f" {m[2]} 个值。" if m[2] else "一个值。"),
    ),
    (re.compile(r"Option '(.+?)' does not take a value\.$"), lambda m: f"选项 {m[1]} 不带值。"),
    (
        re.compile(r"Argument '(.+?)' takes (\d+) values\.$"),
        lambda m: f"参数 {m[1]} 要 {m[2]} 个值。",
    ),
    (re.compile(r"Value must be an iterable\.$"), lambda m: "应给出一个或多个值。"),
    (
        re.compile(r"(file|dir|path) '(.*)' (does not exist|is a file|is a directory|"
                   r"is not readable|is not writable)\.$"),
        lambda m: f"{TYPE_LABELS[m[1]]} {m[2]} "
        + {
            "does not exist": "不存在。",
            "is a file": "是文件，应为目录。",
            "is a directory": "是目录，应为文件。",
            "is not readable": "无权读取。",
            "is not writable": "无权写入。",
        }[m[3]],
    ),
]  # fmt: skip

# Pydantic checks the values typer converts (an int option given "abc"): its error type → Chinese.
VALUE_PROBLEMS = {
    "int_parsing": "应为整数",
    "int_from_float": "应为整数",
    "float_parsing": "应为数值",
    "bool_parsing": "应为 true 或 false",
    "greater_than_equal": "不得小于 {ge}",
    "less_than_equal": "不得大于 {le}",
    "greater_than": "应大于 {gt}",
    "less_than": "应小于 {lt}",
}


_installed = False


def install() -> None:
    """Put the Chinese frame in place, once (a second call would wrap the wrappers)."""
    global _installed
    if _installed:
        return
    _installed = True
    rich_utils.ARGUMENTS_PANEL_TITLE = "参数"
    rich_utils.OPTIONS_PANEL_TITLE = "选项"
    rich_utils.COMMANDS_PANEL_TITLE = "命令"
    rich_utils.ERRORS_PANEL_TITLE = "错误"
    rich_utils.DEFAULT_STRING = "[默认：{}]"
    rich_utils.REQUIRED_LONG_STRING = "[必填]"
    rich_utils.ENVVAR_STRING = "[环境变量：{}]"
    rich_utils.DEPRECATED_STRING = "（已停用）"
    rich_utils.ABORTED_TEXT = "已中止。"
    rich_utils.RICH_HELP = "查看说明：[blue]{command_path} {help_option}[/]"
    rich_utils.highlighter = _Highlighter()
    rich_utils.rich_format_error = _format_error  # type: ignore[assignment]  # same call, self→error
    rich_utils.rich_format_help = _breaking_between_characters(rich_utils.rich_format_help)
    rich_utils._make_rich_text = _folding(rich_utils._make_rich_text)
    rich_utils._get_parameter_help = _folding(rich_utils._get_parameter_help)
    click_core.Context.formatter_class = _Formatter
    decorators.help_option = _help_option
    # Replacing methods on typer's classes is the point here: they have no hook for it.
    parameter, option = typer_core._TyperParameter, typer_core.TyperOption
    parameter.display_type = _display_type(parameter.display_type)  # type: ignore[method-assign]
    option._get_number_range_help_str = _range(option._get_number_range_help_str)  # type: ignore[method-assign]


class _Highlighter(rich_utils.OptionHighlighter):
    """Typer's highlighter for option names and types, with the usage prefix in Chinese."""

    highlights: ClassVar[list[str]] = [
        *(h for h in rich_utils.OptionHighlighter.highlights if "Usage" not in h),
        r"(?P<usage>用法：)",
    ]


class _Formatter(formatting.HelpFormatter):
    """The usage line ("Usage: taskforce [OPTIONS] COMMAND [ARGS]...") in Chinese.

    Every usage line, in the help and above a usage error, is written here; "[OPTIONS]" and
    "COMMAND [ARGS]..." are typer's defaults for every command and group.
    """

    def write_usage(self, prog: str, args: str = "", prefix: str | None = None) -> None:
        args = args.replace("[OPTIONS]", "[选项]").replace("COMMAND [ARGS]...", "命令 [参数]...")
        super().write_usage(prog, args, "用法：" if prefix is None else prefix)


def _breaking_between_characters(format_help: Callable[..., None]) -> Callable[..., None]:
    """Rich wraps lines at spaces only, so Chinese with an option name in it broke at the option
    (须|--policy）) or cut a word it had to fold (Prefec|t). While a help text is printed, rich
    may break between Chinese characters too (the rest of the process keeps rich's rule)."""

    def format(**kwargs: Any) -> None:
        english, rich_wrap.re_word = rich_wrap.re_word, CJK_WORD
        try:
            format_help(**kwargs)
        finally:
            rich_wrap.re_word = english

    return format


def _folding(make_text: Callable[..., Any]) -> Callable[..., Any]:
    """Help texts (and an option's [默认：…]) fold onto the next line instead of ending in "…":
    Chinese has no spaces to wrap at, so rich would cut a sentence as one long word.

    A docstring's line break inside a Chinese sentence is no break to the reader: typer keeps it
    (or makes it a space), so it is dropped between two Chinese characters.
    """

    def make(**kwargs: Any) -> Any:
        if "text" in kwargs:  # _make_rich_text(text=…): a help text of ours
            kwargs["text"] = CJK_LINE_BREAK.sub("", kwargs["text"])
        made = make_text(**kwargs)
        for text in made.renderables if isinstance(made, Columns) else [made]:
            if isinstance(text, Text):
                text.overflow = "fold"
        return made

    return make


CommandDecorator = Callable[[click_core.Command], click_core.Command]
_english_help_option = decorators.help_option


def _help_option(param_decls: list[str]) -> CommandDecorator:
    """Typer's ``--help`` option, with its help in Chinese."""
    add = _english_help_option(param_decls)

    def decorator(command: click_core.Command) -> click_core.Command:
        add(command)
        option = command.params[-1]  # the decorator appends it, get_help_option pops it
        assert isinstance(option, typer_core.TyperOption)
        option.help = HELP_OPTION_HELP
        return command

    return decorator


def _display_type(english: Callable[..., str]) -> Callable[..., str]:
    """The value's type in Chinese (<整数>); none for a flag, which takes no value."""

    def display_type(self: typer_core._TyperParameter, ctx: _click.Context) -> str:
        if getattr(self, "is_flag", False):
            return ""
        label = english(self, ctx)
        inner = label.removeprefix("<").removesuffix(">")
        repeated = inner.startswith("list[") and inner.endswith("]")
        if repeated:
            inner = inner.removeprefix("list[").removesuffix("]")
        chinese = TYPE_LABELS.get(inner, inner)
        # An argument's name already ends in "..." when it takes several values.
        many = "..." if repeated and isinstance(self, typer_core.TyperOption) else ""
        return f"<{chinese}>{many}"

    return display_type


def _range(english: Callable[..., str | None]) -> Callable[..., str | None]:
    def number_range(self: typer_core.TyperOption) -> str | None:
        described = english(self)
        if described is None:
            return None
        low, _, high = described.partition("<=x<=")
        if high:
            return f"{low} 至 {high}"
        if described.startswith("x>="):
            return f"不小于 {described.removeprefix('x>=')}"
        if described.startswith("x<="):
            return f"不大于 {described.removeprefix('x<=')}"
        return described

    return number_range


def _format_error(error: _click.ClickException) -> None:
    """Typer's rich error box (usage line, where to find help, the message), in Chinese."""
    if isinstance(error, exceptions.NoArgsIsHelpError):
        return  # the help itself was printed
    console = rich_utils._get_rich_console(stderr=True)
    ctx: _click.Context | None = getattr(error, "ctx", None)
    if ctx is not None:
        console.print(rich_utils.highlighter(ctx.get_usage()), style=rich_utils.STYLE_USAGE_COMMAND)
        if ctx.command.get_help_option(ctx) is not None:
            console.print(
                rich_utils.RICH_HELP.format(
                    command_path=escape(ctx.command_path), help_option=ctx.help_option_names[-1]
                ),
                style=rich_utils.STYLE_ERRORS_SUGGESTION,
            )
    console.print(
        Panel(
            rich_utils.highlighter(Text(error_message(error))),
            border_style=rich_utils.STYLE_ERRORS_PANEL_BORDER,
            title=rich_utils.ERRORS_PANEL_TITLE,
            title_align=rich_utils.ALIGN_ERRORS_PANEL,
        )
    )


def error_message(error: _click.ClickException) -> str:
    """What went wrong, in Chinese, from the exception's own fields where it has them."""
    if isinstance(error, exceptions.NoSuchOption):
        message = f"没有 {error.option_name} 这个选项。"
        if error.possibilities:
            message += f"是否要用 {'、'.join(sorted(error.possibilities))}？"
        return message
    if isinstance(error, exceptions.MissingParameter):
        param = error.param
        if param is None:
            return f"缺少 {_hint(error.param_hint) or error.message}。"
        kind = "选项" if isinstance(param, typer_core.TyperOption) else "参数"
        help_text = f"：{help}" if (help := getattr(param, "help", None)) else ""
        return f"缺少{kind} {_hint(error.param_hint) or _param_name(param)}{help_text}。"
    if isinstance(error, exceptions.BadParameter):
        problem = _value_problem(error) or _usage_message(error.message)
        hint = _hint(error.param_hint) or (_param_name(error.param) if error.param else "")
        # Our own messages often name the option already (请用 --policy 指明政策代码).
        return f"{hint}：{problem}" if hint and hint not in problem else problem
    return _usage_message(error.message)


def _value_problem(error: exceptions.BadParameter) -> str | None:
    """A value pydantic refused (``--days abc``), said in Chinese with the value given."""
    cause = error.__cause__
    errors = getattr(cause, "errors", None)
    if not callable(errors):
        return None
    first = errors()[0]
    template = VALUE_PROBLEMS.get(first["type"])
    if template is None:
        return f"取值 {first['input']!r} 无效。"
    return f"“{first['input']}”{template.format(**first.get('ctx', {}))}。"


def _usage_message(message: str) -> str:
    for pattern, chinese in USAGE_MESSAGES:
        match = pattern.match(message)
        if match:
            return chinese(match)
    return message  # ours (already Chinese), or one a typer upgrade added: the test names it


def _param_name(param: Any) -> str:
    if isinstance(param, typer_core.TyperOption):
        return " / ".join(param.opts)
    return str(param.display_name_raw)


def _hint(hint: Sequence[str] | str | None) -> str:
    if hint is None or isinstance(hint, str):
        return hint or ""
    return " / ".join(hint)


def _unquote(names: str) -> str:
    """Typer's list of suggestions ('submit', 'submissions') as submit、submissions."""
    return "、".join(name.strip().strip("'") for name in names.split(","))
