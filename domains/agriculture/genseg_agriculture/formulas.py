"""Band arithmetic written as text, so an index's formula in ``data/preprocessing.json`` is
the formula that runs (no second copy in code to drift from the documented one).

A formula is a Python expression restricted to numbers, names, ``+ - * /`` and brackets;
anything else (calls, attributes, powers) is refused when the file is validated. Names are
band names or derived quantities (themselves formulas over bands). Division by zero gives 0,
so a black pixel has an index of 0 rather than NaN.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Mapping

import numpy as np

_OPERATORS: dict[type, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    ast.Add: np.add,
    ast.Sub: np.subtract,
    ast.Mult: np.multiply,
}


def parse(formula: str) -> ast.expr:
    """The expression tree of ``formula``; a ValueError naming what is not allowed."""
    try:
        tree = ast.parse(formula, mode="eval").body
    except SyntaxError as exc:
        raise ValueError(f"formula {formula!r} is not an expression: {exc.msg}") from None
    for node in ast.walk(tree):
        allowed = (ast.BinOp, ast.UnaryOp, ast.Name, ast.Constant, ast.Load, ast.USub, ast.UAdd, ast.Div)
        if isinstance(node, ast.operator) and type(node) not in (*_OPERATORS, ast.Div):
            raise ValueError(f"formula {formula!r} uses an operator other than + - * /")
        if not isinstance(node, (*allowed, *_OPERATORS)):
            raise ValueError(
                f"formula {formula!r} uses {type(node).__name__}; only + - * /, numbers and names"
            )
        if isinstance(node, ast.Constant) and not isinstance(node.value, (int, float)):
            raise ValueError(f"formula {formula!r} holds the non-number {node.value!r}")
    return tree


def names(formula: str, derived: Mapping[str, str] | None = None) -> set[str]:
    """The band names ``formula`` needs, looking through derived quantities."""
    derived = derived or {}
    found: set[str] = set()
    for node in ast.walk(parse(formula)):
        if isinstance(node, ast.Name):
            found |= names(derived[node.id], derived) if node.id in derived else {node.id}
    return found


def evaluate(
    formula: str, bands: Mapping[str, np.ndarray], derived: Mapping[str, str] | None = None
) -> np.ndarray:
    """``formula`` computed pixel-wise (float64) from ``bands``; derived names are computed on demand."""
    derived = derived or {}
    cache: dict[str, np.ndarray] = {}

    def value(name: str) -> np.ndarray:
        if name not in cache:
            if name in bands:
                cache[name] = np.asarray(bands[name], dtype=np.float64)
            elif name in derived:
                cache[name] = run(parse(derived[name]))
            else:
                raise KeyError(name)
        return cache[name]

    def run(node: ast.expr) -> np.ndarray:
        if isinstance(node, ast.Constant):
            return np.float64(node.value)
        if isinstance(node, ast.Name):
            return value(node.id)
        if isinstance(node, ast.UnaryOp):
            operand = run(node.operand)
            return -operand if isinstance(node.op, ast.USub) else operand
        assert isinstance(node, ast.BinOp)
        left, right = run(node.left), run(node.right)
        if isinstance(node.op, ast.Div):
            left, right = np.broadcast_arrays(np.asarray(left, np.float64), np.asarray(right, np.float64))
            return np.divide(left, right, out=np.zeros_like(left), where=right != 0)
        return _OPERATORS[type(node.op)](left, right)

    return np.asarray(run(parse(formula)), dtype=np.float64)
