"""Arithmetic tasks mod p: safe expression parsing, the full dataset, nested splits.

A task is a name plus an expression in x and y, e.g. ``"x**2 + y"``. Expressions
are parsed with :mod:`ast` and checked against a small whitelist (integers,
``x``, ``y``, ``+ - * ** // %``, parentheses); nothing is ever passed to
``eval``. The value is computed exactly with Python integers and reduced mod p
at the end, so ``//`` and ``%`` inside an expression keep their usual meaning.
"""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import h5py
import numpy as np
import torch

from grokglass.io import atomic_path, provenance, set_attrs

MAX_EXPONENT = 64  # keeps x**k cheap and exact; any real task needs far less


class TaskError(ValueError):
    """An expression that is not an allowed task."""


_BINARY_OPS: dict[type, Callable[[int, int], int]] = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Pow: lambda a, b: a**b,
    ast.FloorDiv: lambda a, b: a // b,
    ast.Mod: lambda a, b: a % b,
}
_UNARY_OPS: dict[type, Callable[[int], int]] = {ast.USub: lambda a: -a, ast.UAdd: lambda a: a}


def parse_expression(name: str, expression: str) -> Callable[[int, int], int]:
    """Check `expression` and return an exact integer function f(x, y).

    Raises TaskError naming the task and the offending part of the expression.
    """
    if not isinstance(expression, str):
        raise TaskError(f"task {name!r}: expression must be a string, got {type(expression).__name__}")
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError as err:
        raise TaskError(f"task {name!r}: cannot parse {expression!r}: {err.msg}") from None
    _check_node(name, expression, tree.body)
    body = tree.body

    def evaluate(x: int, y: int) -> int:
        return _evaluate(body, x, y)

    return evaluate


def _offending(expression: str, node: ast.AST) -> str:
    return ast.get_source_segment(expression.strip(), node) or ast.dump(node)


def _check_node(name: str, expression: str, node: ast.AST) -> None:
    if isinstance(node, ast.BinOp):
        if type(node.op) not in _BINARY_OPS:
            raise TaskError(f"task {name!r}: operator not allowed in {_offending(expression, node)!r}"
                            " (allowed: + - * ** // %)")
        _check_node(name, expression, node.left)
        _check_node(name, expression, node.right)
        if isinstance(node.op, ast.Pow):
            exponent = node.right
            if not (isinstance(exponent, ast.Constant) and type(exponent.value) is int
                    and 0 <= exponent.value <= MAX_EXPONENT):
                raise TaskError(f"task {name!r}: exponent in {_offending(expression, node)!r} must be "
                                f"an integer literal between 0 and {MAX_EXPONENT}")
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
        raise TaskError(f"task {name!r}: {_offending(expression, node)!r} is not allowed "
                        "(only integers, x, y, + - * ** // % and parentheses)")


def _evaluate(node: ast.AST, x: int, y: int) -> int:
    if isinstance(node, ast.BinOp):
        return _BINARY_OPS[type(node.op)](_evaluate(node.left, x, y), _evaluate(node.right, x, y))
    if isinstance(node, ast.UnaryOp):
        return _UNARY_OPS[type(node.op)](_evaluate(node.operand, x, y))
    if isinstance(node, ast.Name):
        return x if node.id == "x" else y
    return node.value  # ast.Constant, checked to be int


@dataclass(frozen=True)
class Task:
    name: str
    expression: str
    p: int

    @property
    def equals_token(self) -> int:
        return self.p

    @property
    def vocab_size(self) -> int:
        return self.p + 1

    def labels(self) -> np.ndarray:
        """z = f(x, y) mod p for all p^2 pairs, row-major (index = x*p + y)."""
        if self.p < 2:
            raise TaskError(f"task {self.name!r}: p must be >= 2, got {self.p}")
        f = parse_expression(self.name, self.expression)
        z = np.empty(self.p * self.p, dtype=np.int64)
        for x in range(self.p):
            for y in range(self.p):
                try:
                    z[x * self.p + y] = f(x, y) % self.p
                except ZeroDivisionError:
                    raise TaskError(f"task {self.name!r}: {self.expression!r} divides by zero "
                                    f"at x={x}, y={y}") from None
        return z

    def inputs(self) -> np.ndarray:
        """Token sequences [x, y, =] for all pairs, shape (p^2, 3)."""
        x, y = np.divmod(np.arange(self.p * self.p, dtype=np.int64), self.p)
        return np.stack([x, y, np.full_like(x, self.equals_token)], axis=1)


def split_permutation(n: int, split_seed: int) -> np.ndarray:
    """The frozen random order of examples: torch.randperm with its own seeded generator."""
    generator = torch.Generator().manual_seed(int(split_seed))
    return torch.randperm(n, generator=generator).numpy()


def n_train_for(fraction: float, n: int) -> int:
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"train fraction must lie in (0, 1), got {fraction}")
    # round() first so that e.g. 0.7*4489 computed as 3142.2999.. is not floored a bin low
    return int(math.floor(round(fraction * n, 9)))


def split_indices(permutation: np.ndarray, fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """Nested split: the first floor(f*n) of the permutation train, the rest test."""
    n_train = n_train_for(fraction, len(permutation))
    return permutation[:n_train], permutation[n_train:]


def fraction_key(fraction: float) -> str:
    """The HDF5 group name of a split fraction, e.g. 0.5 -> '0.5'."""
    return repr(float(fraction))


def write_dataset(path: str | Path, task: Task, fractions: list[float], split_seed: int) -> None:
    """All p^2 examples with the split indices for every fraction, plus provenance."""
    inputs, labels = task.inputs(), task.labels()
    permutation = split_permutation(len(labels), split_seed)
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as h5:
        h5.create_dataset("inputs", data=inputs)
        h5.create_dataset("labels", data=labels)
        h5.create_dataset("permutation", data=permutation)
        for fraction in fractions:
            train, test = split_indices(permutation, fraction)
            group = h5.create_group(f"splits/{fraction_key(fraction)}")
            group.create_dataset("train", data=train)
            group.create_dataset("test", data=test)
        set_attrs(h5, provenance(task=task.name, expression=task.expression, p=task.p,
                                 split_seed=split_seed, fractions=list(fractions)))


@dataclass
class Split:
    """One task's examples at one train fraction, as tensors ready for a model."""

    train_inputs: torch.Tensor
    train_labels: torch.Tensor
    test_inputs: torch.Tensor
    test_labels: torch.Tensor
    p: int  # modulus of an arithmetic task (0 for other kinds of data)
    n_classes: int | None = None  # output classes; None means p + 1 (the transformer's vocabulary)

    def to(self, device: torch.device) -> "Split":
        return Split(*(t.to(device) for t in (self.train_inputs, self.train_labels,
                                               self.test_inputs, self.test_labels)),
                     p=self.p, n_classes=self.n_classes)


def load_split(path: str | Path, fraction: float) -> Split:
    with h5py.File(path, "r") as h5:
        key = f"splits/{fraction_key(fraction)}"
        if key not in h5:
            available = sorted(h5["splits"].keys())
            raise KeyError(f"{path}: no split for fraction {fraction} (has {available})")
        inputs = torch.from_numpy(h5["inputs"][()])
        labels = torch.from_numpy(h5["labels"][()])
        train = torch.from_numpy(h5[key]["train"][()])
        test = torch.from_numpy(h5[key]["test"][()])
        p = int(h5.attrs.get("p", 0))
        n_classes = int(h5.attrs["n_classes"]) if "n_classes" in h5.attrs else None
    return Split(inputs[train], labels[train], inputs[test], labels[test], p=p, n_classes=n_classes)


def make_split(task: Task, fraction: float, split_seed: int) -> Split:
    """The same split as write_dataset/load_split, built in memory (tests, benchmarks)."""
    inputs, labels = torch.from_numpy(task.inputs()), torch.from_numpy(task.labels())
    train, test = split_indices(split_permutation(len(labels), split_seed), fraction)
    train, test = torch.from_numpy(train), torch.from_numpy(test)
    return Split(inputs[train], labels[train], inputs[test], labels[test], p=task.p)
