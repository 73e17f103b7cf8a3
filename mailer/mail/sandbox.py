"""The Jinja2 sandbox templates render in, bounded in what a render may allocate and how long it may run.

Every value a template can make is bounded, not just what it emits: each operation that can
grow a value (``+ * % ~``, filters, method calls, macro and block bodies, ``{{ }}``) checks the
size of its result *before* building it where one C call could build a huge value at once
(widths, format specs, ``replace``, ``join``, repetition), and after it otherwise. A value's size
is what it takes as text, containers included, so a list of a million references to one string
is as large as the text it prints. Each render also has a budget of characters built in total,
and a deadline that covers every Python frame the render runs (filters and helpers too, not
only the template's own), so a loop of small steps cannot outrun it either. ``lipsum``,
``cycler`` and ``joiner`` are gone; macros may nest only so deep.
"""

from __future__ import annotations

import contextvars
import functools
import re
import string
import sys
import time
from collections.abc import Callable, Iterable
from types import FrameType
from typing import Any

from jinja2 import StrictUndefined, nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.runtime import Macro
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError
from jinja2.utils import Namespace, _PassArg

MAX_VALUE_CHARS = 512 * 1024  # no value (string or container, as text) may be larger
MAX_BUILT_CHARS = 16 * 1024 * 1024  # all values one render builds, together
MAX_WIDTH = 1_000  # field widths and precisions in format specs, tojson's indent
MAX_COUNT = 10_000  # range(), batch() and slice() counts
MAX_INT_BITS = 4_096
MAX_MACRO_DEPTH = 64
TEMPLATE_FILE = "<template>"  # the file name of code compiled from a template string
ALLOWED_STR_METHODS = frozenset([
    "capitalize", "casefold", "center", "count", "endswith", "find", "format", "index", "isalnum", "isalpha",
    "isascii", "isdecimal", "isdigit", "islower", "isnumeric", "isspace", "istitle", "isupper", "join",
    "ljust", "lower", "lstrip", "partition", "removeprefix", "removesuffix", "replace", "rfind", "rindex",
    "rjust", "rpartition", "rsplit", "rstrip", "split", "splitlines", "startswith", "strip", "swapcase",
    "title", "upper", "zfill",
])
ALLOWED_CONTAINER_METHODS = frozenset({"items", "keys", "values", "get", "count", "index"})


class RenderLimitError(SecurityError):
    """A render went over one of its bounds."""


class RenderBudget:
    """One render's deadline, characters built so far, and macro depth.

    ``traced`` (any template a tenant wrote): the deadline covers every Python frame the render runs. Untraced
    (a built-in template, our code, whose loops only walk values it made through charged calls): the deadline is
    checked at every charge instead, without the per-call trace that made a built-in render about three times slower."""

    def __init__(self, seconds: float, *, traced: bool = True) -> None:
        self.until = time.monotonic() + seconds
        self.built = 0
        self.depth = 0
        self.ticks = 0
        self.traced = traced

    def charge(self, size: int) -> None:
        if size > MAX_VALUE_CHARS:
            raise RenderLimitError(f"a value would be larger than {MAX_VALUE_CHARS} characters")
        self.built += size
        if self.built > MAX_BUILT_CHARS:
            raise RenderLimitError(f"the render would build more than {MAX_BUILT_CHARS} characters")
        if not self.traced and time.monotonic() > self.until:
            raise TimeoutError("template rendering took too long")

    def _tick(self, frame: FrameType, event: str, arg: Any) -> Any:
        self.ticks += 1
        if self.ticks % 256 == 0 and time.monotonic() > self.until:
            raise TimeoutError("template rendering took too long")
        return self._tick

    def _call(self, frame: FrameType, event: str, arg: Any) -> Any:
        # Every Python call made during the render is checked (filters and helpers included); line by line
        # only in the template's own frames, where loops without calls run. Tracing every line of every
        # frame made renders six times slower.
        if time.monotonic() > self.until:
            raise TimeoutError("template rendering took too long")
        return self._tick if frame.f_code.co_filename == TEMPLATE_FILE else None

    def __enter__(self) -> RenderBudget:
        self._previous_trace = sys.gettrace()
        self._token = _BUDGET.set(self)
        if self.traced:
            sys.settrace(self._call)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.traced:
            sys.settrace(self._previous_trace)
        _BUDGET.reset(self._token)


_BUDGET: contextvars.ContextVar[RenderBudget | None] = contextvars.ContextVar("render_budget", default=None)


def text_size(value: Any, limit: int = MAX_VALUE_CHARS) -> int:
    """About how many characters ``value`` takes as text; counting stops a little past ``limit``.

    Every occurrence counts, as it prints: a list holding one list twice prints it twice, so forty levels of
    ``[a, a]`` are 2**40 times ``a`` (N2). The early stop bounds the walk (each container adds at least 2),
    cycles included.
    """
    total, stack = 0, [value]
    while stack and total <= limit:
        item = stack.pop()
        if isinstance(item, str):
            total += len(item)
        elif isinstance(item, bool) or item is None:
            total += 5
        elif isinstance(item, int):
            total += item.bit_length() // 3 + 1
        elif isinstance(item, dict | list | tuple | set | frozenset | Namespace):
            if isinstance(item, Namespace):
                item = item._Namespace__attrs  # type: ignore[attr-defined]
            members: Iterable[Any] = [*item.keys(), *item.values()] if isinstance(item, dict) else item
            total += 2
            for member in members:
                total += 2
                stack.append(member)
        else:
            total += 24  # numbers, macros, loop helpers: small as text
    return total


def charge(value: Any) -> Any:
    """Count ``value`` against the running render's bounds; returns it unchanged."""
    budget = _BUDGET.get()
    if budget is not None:
        budget.charge(text_size(value))
    return value


def refuse_over(estimate: int) -> None:
    """Refuse an operation before it runs, when its result would be over the value bound."""
    if estimate > MAX_VALUE_CHARS:
        raise RenderLimitError(f"a value would be larger than {MAX_VALUE_CHARS} characters")


def _check_number(value: Any, what: str, bound: int) -> None:
    if isinstance(value, int) and abs(value) > bound:
        raise RenderLimitError(f"{what} larger than {bound}")


_PRINTF_SPEC = re.compile(r"%(?:\([^()%]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?")


def check_printf(template: str) -> None:
    """Refuse %-format widths and precisions over MAX_WIDTH, and the `*` that takes them from the args."""
    for width, precision in _PRINTF_SPEC.findall(template):
        for number in (width, precision):
            if number == "*" or (number and int(number) > MAX_WIDTH):
                raise RenderLimitError(f"format width or precision over {MAX_WIDTH}")


def refuse_printf_output(template: str, args: Any) -> None:
    """Refuse ``template % args`` before it runs when (fields times the largest argument) is over the bound (N2)."""
    fields = len(_PRINTF_SPEC.findall(template))
    refuse_over(len(template) + fields * text_size(args))


def _largest(args: Iterable[Any]) -> int:
    return max((text_size(arg) for arg in args), default=0)


def check_format_spec(template: str) -> None:
    """The same for str.format: nested fields (`{:{w}}`) are refused, since they take a width from the args."""
    try:
        fields = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise RenderLimitError(f"bad format string: {exc}") from None
    for _, _, spec, _ in fields:
        if not spec:
            continue
        if "{" in spec:
            raise RenderLimitError("nested format fields are not allowed")
        if any(int(n) > MAX_WIDTH for n in re.findall(r"\d+", spec)):
            raise RenderLimitError(f"format width or precision over {MAX_WIDTH}")


def _replace_estimate(text: str, old: str, new: str, count: Any = -1) -> int:
    hits = len(text) + 1 if old == "" else text.count(old)
    if isinstance(count, int) and count >= 0:
        hits = min(hits, count)
    return len(text) + hits * max(len(new) - len(old), 0)


def _join_estimate(items: Any, separator: str = "") -> int:
    if isinstance(items, str | list | tuple | dict | set | frozenset):
        return text_size(items) + len(separator) * len(items)
    return 0  # a generator: its items are charged as they are made, the result after the join


def _width_of(text: Any, width: Any, *_: Any) -> None:
    _check_number(width, "width", MAX_VALUE_CHARS)


# Checks run before a filter or a str method, on its arguments (without Jinja's pass-through first argument).
def _pre_indent(text: Any, width: Any = 4, *_: Any, **__: Any) -> None:
    lines = str(text).count("\n") + 1
    refuse_over(len(str(text)) + lines * (len(width) if isinstance(width, str) else max(int(width), 0)))


def _pre_wordwrap(text: Any, width: Any = 79, _break: Any = True, wrapstring: Any = None, *_: Any, **kw: Any) -> None:
    wrapstring = kw.get("wrapstring", wrapstring)
    width = kw.get("width", width)
    if isinstance(wrapstring, str) and isinstance(width, int) and width > 0:
        text = str(text)
        refuse_over(len(text) + (len(text) // width + text.count("\n") + 1) * len(wrapstring))


def _pre_replace(text: Any, old: Any, new: Any, count: Any = -1, *_: Any) -> None:
    if isinstance(old, str) and isinstance(new, str):
        refuse_over(_replace_estimate(str(text), old, new, -1 if count is None else count))


def _pre_join(items: Any, separator: Any = "", *_: Any, **kw: Any) -> None:
    refuse_over(_join_estimate(items, str(kw.get("d", separator))))


def _pre_format(template: Any, *args: Any, **kwargs: Any) -> None:
    check_printf(str(template))
    refuse_printf_output(str(template), (*args, *kwargs.values()))


def _pre_count(value: Any, count: Any = 1, *_: Any, **__: Any) -> None:
    _check_number(count, "count", MAX_COUNT)


def _pre_sum(value: Any, attribute: Any = None, start: Any = 0) -> None:
    if not isinstance(start, int | float):
        raise RenderLimitError("sum adds numbers only")


def _pre_tojson(value: Any, indent: Any = None) -> None:
    _check_number(indent, "indent", 16)


def _pre_urlize(value: Any, *args: Any, **kwargs: Any) -> None:
    extra = sum(len(v) for v in (*args, *kwargs.values()) if isinstance(v, str))
    refuse_over(len(str(value)) * (1 + extra // 8))


FILTER_CHECKS: dict[str, Callable[..., None]] = {
    "center": _width_of, "indent": _pre_indent, "wordwrap": _pre_wordwrap, "replace": _pre_replace,
    "join": _pre_join, "format": _pre_format, "batch": _pre_count, "slice": _pre_count, "sum": _pre_sum,
    "tojson": _pre_tojson, "urlize": _pre_urlize,
}
STR_METHOD_CHECKS: dict[str, Callable[..., None]] = {
    "center": _width_of, "ljust": _width_of, "rjust": _width_of, "zfill": _width_of,
    "replace": _pre_replace, "join": lambda text, items, *_: refuse_over(_join_estimate(items, text)),
}


def _bounded_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    check = FILTER_CHECKS.get(name)
    passes_arg = _PassArg.from_obj(func) is not None

    @functools.wraps(func)
    def bounded(*args: Any, **kwargs: Any) -> Any:
        own = args[1:] if passes_arg else args
        if own:
            # |string, |tojson, |pprint… build the text of their input in C: it is measured first (N2).
            refuse_over(text_size(own[0]))
        if check is not None:
            check(*own, **kwargs)
        return charge(func(*args, **kwargs))

    return bounded


def _bounded_range(*args: int) -> range:
    result = range(*args)
    if len(result) > MAX_COUNT:
        raise RenderLimitError(f"range longer than {MAX_COUNT}")
    return result


class _BoundedCodeGenerator(CodeGenerator):
    """Routes `a ~ b` through the environment's size check before the strings are joined."""

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        if frame.eval_ctx.volatile:
            func_name = "(markup_join if context.eval_ctx.volatile else str_join)"
        else:
            func_name = "markup_join" if frame.eval_ctx.autoescape else "str_join"
        self.write(f"{func_name}(environment.concat_operands((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write(")))")


class BoundedSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox with every growing operation bounded (see the module docstring)."""

    intercepted_binops = frozenset(["*", "**", "+", "%"])
    code_generator_class = _BoundedCodeGenerator

    def __init__(self, *, autoescape: bool) -> None:
        super().__init__(autoescape=autoescape, undefined=StrictUndefined, keep_trailing_newline=True,
                         finalize=charge)
        for name in ("lipsum", "cycler", "joiner"):
            self.globals.pop(name, None)
        self.globals["range"] = _bounded_range
        self.filters = {name: _bounded_filter(name, func) for name, func in self.filters.items()}

    @staticmethod
    def concat(parts: Iterable[str]) -> str:  # type: ignore[override]
        """Joins macro, block and call bodies: sized before the join."""
        parts = list(parts)
        refuse_over(sum(len(part) for part in parts))
        return charge("".join(parts))

    @staticmethod
    def concat_operands(parts: tuple[Any, ...]) -> tuple[Any, ...]:
        """The operands of `a ~ b ~ ...`, sized (and charged) before they are joined."""
        size = sum(text_size(part) for part in parts)
        refuse_over(size)
        budget = _BUDGET.get()
        if budget is not None:
            budget.charge(size)
        return parts

    def call_binop(self, context: Any, operator_name: str, left: Any, right: Any) -> Any:
        _check_binop(operator_name, left, right)
        return charge(super().call_binop(context, operator_name, left, right))

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """`'...'.format` and `format_map`: the format string's widths are checked before it runs."""
        wrapper = super().wrap_str_format(value)
        if wrapper is None:
            return None
        template = value.__self__
        check_format_spec(template)
        fields = sum(1 for _, name, _, _ in string.Formatter().parse(template) if name is not None)

        @functools.wraps(wrapper)
        def bounded(*args: Any, **kwargs: Any) -> str:
            # ('{0}' * k).format(big) builds k times |big| in C: estimated before it runs (N2).
            refuse_over(len(template) + fields * _largest((*args, *kwargs.values())))
            return wrapper(*args, **kwargs)

        return bounded

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        owner = getattr(__obj, "__self__", None)
        name = getattr(__obj, "__name__", "")
        if isinstance(owner, str) and not isinstance(owner, type):
            if name not in ALLOWED_STR_METHODS:
                raise RenderLimitError(f"str.{name} is not available in templates")
            check = STR_METHOD_CHECKS.get(name)
            if check is not None:
                check(owner, *args, **kwargs)
        elif isinstance(owner, dict | list | tuple) and name not in ALLOWED_CONTAINER_METHODS:
            raise RenderLimitError(f"{type(owner).__name__}.{name} is not available in templates")
        if isinstance(__obj, Macro):
            return _call_macro(lambda: super(BoundedSandbox, __self).call(__context, __obj, *args, **kwargs))
        return charge(super().call(__context, __obj, *args, **kwargs))


def _call_macro(run: Callable[[], Any]) -> Any:
    budget = _BUDGET.get()
    if budget is None:
        return run()
    if budget.depth >= MAX_MACRO_DEPTH:
        raise RenderLimitError(f"macros nested deeper than {MAX_MACRO_DEPTH}")
    budget.depth += 1
    try:
        return charge(run())
    finally:
        budget.depth -= 1


def _check_binop(operator_name: str, left: Any, right: Any) -> None:
    if operator_name == "**":
        if isinstance(left, int | float) and isinstance(right, int | float) and (abs(left) > 1_000 or abs(right) > 64):
            raise RenderLimitError("exponent too large")
    elif operator_name == "*":
        if isinstance(left, int) and isinstance(right, int):
            if left.bit_length() + right.bit_length() > MAX_INT_BITS:
                raise RenderLimitError(f"product larger than {MAX_INT_BITS} bits")
            return
        sized = [v for v in (left, right) if isinstance(v, str | list | tuple)]
        times = [v for v in (left, right) if isinstance(v, int)]
        if sized and times:
            refuse_over(text_size(sized[0]) * max(times[0], 0))
    elif operator_name == "+":
        if isinstance(left, str | list | tuple) and isinstance(right, str | list | tuple):
            refuse_over(text_size(left) + text_size(right))
    elif operator_name == "%" and isinstance(left, str):
        check_printf(left)
        refuse_printf_output(left, right)
