"""Task expressions in x and y, parsed safely (no torch, no eval): what config checking needs.

A task is a name plus an expression in x and y, e.g. ``"x**2 + y"``. Expressions
are parsed with :mod:`ast` and checked against a small whitelist (integers,
``x``, ``y``, ``+ - * / ** // %``, parentheses); nothing is ever passed to
``eval``. The value is computed exactly with Python integers and reduced mod p
at the end, so ``//`` and ``%`` inside an expression keep their usual integer
meaning.

``/`` is modular division: ``a / b`` is a times the inverse of b mod p (p prime),
as in the classic x/y mod p grokking task. Its result is the residue in [0, p),
so an operator applied to it afterwards acts on that residue. A pair (x, y) at
which a divisor is 0 mod p has no value; :class:`Undefined` says so, and the
dataset leaves such pairs out (x / y mod p has p (p - 1) examples).
"""

from __future__ import annotations

import ast
from collections.abc import Callable

MAX_EXPONENT = 64  # keeps x**k cheap and exact; any real task needs far less
MAX_NESTED_POWERS = 2  # ((x**64)**64)**64 is already a 262,144-bit integer per pair
# a bound on the size of every exact intermediate value, in bits: a dataset job evaluates the
# expression at p^2 pairs, and at this size that stays well under a second per task
MAX_VALUE_BITS = 32_768
OPERATORS = "+ - * / ** // %"


class TaskError(ValueError):
    """An expression that is not an allowed task."""


class Undefined(ArithmeticError):
    """The expression has no value at this (x, y): a modular division by 0 mod p."""


def is_prime(n: int) -> bool:
    if n < 2:
        return False
    return all(n % d for d in range(2, int(n**0.5) + 1))


def _modular_divide(a: int, b: int, p: int | None) -> int:
    if p is None:
        raise TaskError("modular division '/' needs the modulus p")
    if b % p == 0:
        raise Undefined(f"division by {b} = 0 mod {p}")
    return a * pow(b, -1, p) % p


_BINARY_OPS: dict[type, Callable[[int, int], int]] = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Pow: lambda a, b: a**b,
    ast.FloorDiv: lambda a, b: a // b,
    ast.Mod: lambda a, b: a % b,
}
_UNARY_OPS: dict[type, Callable[[int], int]] = {ast.USub: lambda a: -a, ast.UAdd: lambda a: a}


def parse_expression(name: str, expression: str, p: int | None = None) -> Callable[[int, int], int]:
    """Check `expression` and return an exact integer function f(x, y).

    `p` is needed only by modular division (and must then be prime); f raises
    Undefined where a divisor is 0 mod p. Raises TaskError naming the task and the
    offending part of the expression.
    """
    if not isinstance(expression, str):
        raise TaskError(f"task {name!r}: expression must be a string, got {type(expression).__name__}")
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError as err:
        raise TaskError(f"task {name!r}: cannot parse {expression!r}: {err.msg}") from None
    _check_node(name, expression, tree.body)
    bits = value_bits(tree.body, p)
    if bits > MAX_VALUE_BITS:
        raise TaskError(
            f"task {name!r}: {expression.strip()!r} has intermediate values of up to ~{bits:,} bits at "
            f"p = {p} (more than {MAX_VALUE_BITS:,}): too costly to compute exactly at every pair"
        )
    if uses_division(tree.body) and p is not None and not is_prime(p):
        raise TaskError(f"task {name!r}: modular division '/' needs a prime p, got p = {p}")
    body = tree.body

    def evaluate(x: int, y: int) -> int:
        return _evaluate(body, x, y, p)

    return evaluate


def value_bits(node: ast.AST, p: int | None) -> int:
    """An upper bound on the bit length of the largest exact value inside the expression,
    for x, y in [0, p) (p unknown: 64 bits)."""
    operand_bits = (p - 1).bit_length() if p else 64
    if isinstance(node, ast.Name):
        return operand_bits
    if isinstance(node, ast.Constant):
        return abs(int(node.value)).bit_length()
    if isinstance(node, ast.UnaryOp):
        return value_bits(node.operand, p)
    if not isinstance(node, ast.BinOp):
        return 0
    left, right = value_bits(node.left, p), value_bits(node.right, p)
    if isinstance(node.op, ast.Pow):
        return left * int(node.right.value) if isinstance(node.right, ast.Constant) else left * MAX_EXPONENT
    if isinstance(node.op, ast.Mult):
        return left + right
    if isinstance(node.op, ast.Div):  # a residue mod p, from operands of these sizes
        return max(left, right, operand_bits)
    if isinstance(node.op, ast.Mod):
        return max(left, right)
    return max(left, right) + 1  # + - //


def uses_division(node: ast.AST) -> bool:
    return any(isinstance(n, ast.BinOp) and isinstance(n.op, ast.Div) for n in ast.walk(node))


def _offending(expression: str, node: ast.AST) -> str:
    return ast.get_source_segment(expression.strip(), node) or ast.dump(node)


def _power_depth(node: ast.AST) -> int:
    """How many ** are nested inside one another (x**2 + y**2 has depth 1)."""
    inner = max((_power_depth(child) for child in ast.iter_child_nodes(node)), default=0)
    return inner + (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow))


def _check_node(name: str, expression: str, node: ast.AST) -> None:
    if isinstance(node, ast.BinOp):
        if type(node.op) not in _BINARY_OPS and not isinstance(node.op, ast.Div):
            raise TaskError(
                f"task {name!r}: operator not allowed in {_offending(expression, node)!r} (allowed: {OPERATORS})"
            )
        _check_node(name, expression, node.left)
        _check_node(name, expression, node.right)
        if isinstance(node.op, ast.Pow):
            _check_power(name, expression, node)
    elif isinstance(node, ast.UnaryOp):
        if type(node.op) not in _UNARY_OPS:
            raise TaskError(f"task {name!r}: operator not allowed in {_offending(expression, node)!r}")
        _check_node(name, expression, node.operand)
    elif isinstance(node, ast.Name):
        if node.id not in ("x", "y"):
            raise TaskError(f"task {name!r}: unknown name {node.id!r} (only x and y are allowed)")
    elif isinstance(node, ast.Constant):
        if type(node.value) is not int:
            raise TaskError(f"task {name!r}: only integer constants are allowed, got {node.value!r}")
    else:
        raise TaskError(
            f"task {name!r}: {_offending(expression, node)!r} is not allowed "
            f"(only integers, x, y, {OPERATORS} and parentheses)"
        )


def _check_power(name: str, expression: str, node: ast.BinOp) -> None:
    exponent = node.right
    if not (isinstance(exponent, ast.Constant) and type(exponent.value) is int and 0 <= exponent.value <= MAX_EXPONENT):
        raise TaskError(
            f"task {name!r}: exponent in {_offending(expression, node)!r} must be "
            f"an integer literal between 0 and {MAX_EXPONENT}"
        )
    if _power_depth(node) > MAX_NESTED_POWERS:
        # the exact integers grow as the product of the nested exponents: one more level of
        # ((x**64)**64)**64 turns a dataset job of seconds into hours
        raise TaskError(
            f"task {name!r}: {_offending(expression, node)!r} nests more than {MAX_NESTED_POWERS} powers "
            "(its exact value would take too long to compute)"
        )


def _evaluate(node: ast.AST, x: int, y: int, p: int | None) -> int:
    if isinstance(node, ast.BinOp):
        left, right = _evaluate(node.left, x, y, p), _evaluate(node.right, x, y, p)
        if isinstance(node.op, ast.Div):
            return _modular_divide(left, right, p)
        return _BINARY_OPS[type(node.op)](left, right)
    if isinstance(node, ast.UnaryOp):
        return _UNARY_OPS[type(node.op)](_evaluate(node.operand, x, y, p))
    if isinstance(node, ast.Name):
        return x if node.id == "x" else y
    return node.value  # ast.Constant, checked to be int
