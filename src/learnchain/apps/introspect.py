"""What each app method takes, derived from the app classes (for `/v1/apps` and clients).

App methods read their arguments through :class:`learnchain.apps.base.Args`
(``a.int("amount")``, ``a.address("to")``, ``a.str("label", default="")``). Reading the
method's source with ``ast`` finds every such read, including reads in helper methods the
``Args`` object is passed to, so a new app is described without extra declarations. An app
can still state or refine a method's arguments with a ``method_args`` class attribute
(``{"method": {"arg": {"type": ..., "required": ...}}}``), which wins over the derivation.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from functools import cache
from typing import Any

#: Args accessor -> wire type (JSON view: bytes and addresses are "0x…" hex strings).
ARG_TYPES = {"int": "integer", "str": "string", "bytes": "bytes", "address": "address",
             "list": "list", "dict": "map", "bool": "boolean"}


def describe_app(app: Any) -> dict[str, Any]:
    """``{"methods": {name: {"doc", "args"}}, "queries": {...}}`` of one app instance."""
    cls = type(app)
    declared: dict[str, dict[str, Any]] = getattr(cls, "method_args", {}) or {}
    out: dict[str, Any] = {}
    for kind, names in (("methods", cls.tx_methods), ("queries", cls.query_methods)):
        out[kind] = {}
        for name in sorted(names):
            func = getattr(cls, name)
            args = dict(method_args(cls, name))
            args.update(declared.get(name, {}))
            out[kind][name] = {"doc": _first_line(func.__doc__), "args": args}
    return out


def _first_line(doc: str | None) -> str:
    return inspect.cleandoc(doc).split("\n\n")[0].replace("\n", " ") if doc else ""


@cache
def method_args(cls: type, name: str) -> tuple[tuple[str, dict[str, Any]], ...]:
    """(argument, {"type", "required"}) pairs read by ``cls.<name>`` (and its helpers)."""
    found: dict[str, dict[str, Any]] = {}
    _scan(cls, name, None, found, set())
    return tuple(sorted(found.items()))


def _function_node(cls: type, name: str) -> ast.FunctionDef | None:
    func = getattr(cls, name, None)
    try:
        source = textwrap.dedent(inspect.getsource(func))  # type: ignore[arg-type]
    except (OSError, TypeError):
        return None
    tree = ast.parse(source)
    node = tree.body[0] if tree.body else None
    return node if isinstance(node, ast.FunctionDef) else None


def _scan(cls: type, name: str, args_params: set[str] | None,
          found: dict[str, dict[str, Any]], seen: set[str]) -> None:
    if name in seen:
        return
    seen.add(name)
    node = _function_node(cls, name)
    if node is None:
        return
    # Names holding an Args object: parameters annotated `Args` (helpers) or given by caller.
    holders = set(args_params or ())
    holders.update(a.arg for a in node.args.args
                   if (isinstance(a.annotation, ast.Name) and a.annotation.id == "Args")
                   or (isinstance(a.annotation, ast.Constant) and a.annotation.value == "Args"))
    for stmt in ast.walk(node):
        if isinstance(stmt, ast.Assign) and _is_args_ctor(stmt.value):
            holders.update(t.id for t in stmt.targets if isinstance(t, ast.Name))
    for call in ast.walk(node):
        if not isinstance(call, ast.Call) or not isinstance(call.func, ast.Attribute):
            continue
        target, attr = call.func.value, call.func.attr
        is_args = (isinstance(target, ast.Name) and target.id in holders) or _is_args_ctor(target)
        if is_args and attr in ARG_TYPES and call.args and isinstance(call.args[0], ast.Constant):
            arg = str(call.args[0].value)
            optional = any(k.arg == "default" for k in call.keywords)
            entry = found.setdefault(arg, {"type": ARG_TYPES[attr], "required": not optional})
            entry["required"] = entry["required"] and not optional
            for k in call.keywords:
                if k.arg in ("minimum", "size", "max_len") and isinstance(k.value, ast.Constant):
                    entry[k.arg] = k.value.value
        elif isinstance(target, ast.Name) and target.id == "self" and hasattr(cls, attr):
            passed = [i for i, a in enumerate(call.args)
                      if isinstance(a, ast.Name) and a.id in holders]
            if passed:
                helper = _function_node(cls, attr)
                if helper is not None:
                    names = [a.arg for a in helper.args.args][1:]  # drop self
                    _scan(cls, attr, {names[i] for i in passed if i < len(names)}, found, seen)


def _is_args_ctor(node: ast.AST) -> bool:
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id == "Args")
