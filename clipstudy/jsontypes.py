"""Whether a value read from JSON fits a declared type annotation: the one check that typed records apply to what
they read from outside (the runner's unit records in `export`, a local checkpoint's open_clip config)."""
from __future__ import annotations

import types
import typing
from typing import Any


def fits(value: Any, tp: Any) -> bool:
    """Whether a JSON value fits `tp`: bool, int (never a bool), float (an int too), str, dict, `list[X]`,
    `tuple[X, ...]` and `tuple[X, Y]` (a JSON list), `Optional`/`Union` (typing's or `X | Y`) and None; any other
    annotation (`Any`, a class) is left to the reader and fits."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is type(None) or tp is None:
        return value is None
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if tp is str:
        return isinstance(value, str)
    if tp is dict or origin is dict:
        return isinstance(value, dict)
    if origin is typing.Union or origin is types.UnionType:
        return any(fits(value, a) for a in args)
    if tp is list or origin is list:
        (item,) = args or (Any,)
        return isinstance(value, list) and all(fits(v, item) for v in value)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(fits(v, args[0]) for v in value)
        return len(value) == len(args) and all(fits(v, a) for v, a in zip(value, args))
    return True
