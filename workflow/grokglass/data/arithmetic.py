"""Arithmetic tasks mod p: the full dataset of a task and its nested train/test splits.

Expressions are parsed by :mod:`grokglass.data.expressions` (no torch there, so config
checking stays light). A dataset file holds every example of a task and the frozen
random order of them (`permutation`); the split at a train fraction f is the first
floor(f n) examples of that order, derived when the file is loaded. So one file
serves every fraction, and adding a fraction to config.yaml leaves it untouched.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import h5py
import numpy as np

if TYPE_CHECKING:  # torch is imported where tensors are made: Figure 4 reads splits without it
    import torch

from grokglass.data.expressions import MAX_EXPONENT, TaskError, Undefined, parse_expression
from grokglass.io import atomic_path, open_input_h5, provenance, set_attrs

__all__ = [
    "MAX_EXPONENT",
    "Split",
    "Task",
    "TaskError",
    "load_split",
    "make_split",
    "n_train_for",
    "parse_expression",
    "split_indices",
    "split_permutation",
    "write_dataset",
]


@dataclass(frozen=True)
class Task:
    name: str
    expression: str
    p: int

    @property
    def equals_token(self) -> int:
        return self.p

    def examples(self) -> tuple[np.ndarray, np.ndarray]:
        """Token sequences [x, y, =] (n, 3) and labels z = f(x, y) mod p (n,), row-major in (x, y).

        Every pair has a value except where a modular division meets a divisor 0 mod p;
        those pairs are left out (x / y mod p has n = p (p - 1) examples).
        """
        if self.p < 2:
            raise TaskError(f"task {self.name!r}: p must be >= 2, got {self.p}")
        f = parse_expression(self.name, self.expression, self.p)
        pairs, labels = [], []
        for x in range(self.p):
            for y in range(self.p):
                try:
                    labels.append(f(x, y) % self.p)
                except Undefined:
                    continue
                except ZeroDivisionError:
                    raise TaskError(
                        f"task {self.name!r}: {self.expression!r} divides by zero at x={x}, y={y}"
                    ) from None
                pairs.append((x, y))
        if not pairs:
            raise TaskError(f"task {self.name!r}: {self.expression!r} is undefined at every pair")
        xy = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
        inputs = np.concatenate([xy, np.full((len(xy), 1), self.equals_token, dtype=np.int64)], axis=1)
        return inputs, np.asarray(labels, dtype=np.int64)

    def labels(self) -> np.ndarray:
        return self.examples()[1]

    def inputs(self) -> np.ndarray:
        return self.examples()[0]


def split_permutation(n: int, split_seed: int) -> np.ndarray:
    """The frozen random order of examples: torch.randperm with its own seeded generator."""
    import torch

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


def write_dataset(path: str | Path, task: Task, split_seed: int) -> None:
    """All examples of the task with their frozen random order, plus provenance.

    The splits are not stored: :func:`load_split` derives the one it is asked for from
    `permutation`, so this file depends only on the task, p and the split seed.
    """
    inputs, labels = task.examples()
    permutation = split_permutation(len(labels), split_seed)
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as h5:
        h5.create_dataset("inputs", data=inputs)
        h5.create_dataset("labels", data=labels)
        h5.create_dataset("permutation", data=permutation)
        set_attrs(
            h5,
            provenance(
                task=task.name, expression=task.expression, p=task.p, split_seed=split_seed, n_examples=len(labels)
            ),
        )


@dataclass
class Split:
    """One task's examples at one train fraction, as tensors ready for a model."""

    train_inputs: torch.Tensor
    train_labels: torch.Tensor
    test_inputs: torch.Tensor
    test_labels: torch.Tensor
    p: int  # modulus of an arithmetic task (0 for other kinds of data)
    n_classes: int | None = None  # output classes; None means p + 1 (the transformer's vocabulary)

    def to(self, device: torch.device) -> Split:
        return Split(
            *(t.to(device) for t in (self.train_inputs, self.train_labels, self.test_inputs, self.test_labels)),
            p=self.p,
            n_classes=self.n_classes,
        )


def load_split(path: str | Path, fraction: float) -> Split:
    """The split at `fraction` of a dataset file: a prefix of its stored permutation."""
    import torch

    with open_input_h5(path, "dataset") as h5:
        inputs = torch.from_numpy(h5["inputs"][()])
        labels = torch.from_numpy(h5["labels"][()])
        train, test = (torch.from_numpy(part) for part in split_indices(h5["permutation"][()], fraction))
        p = int(h5.attrs.get("p", 0))
        n_classes = int(h5.attrs["n_classes"]) if "n_classes" in h5.attrs else None
    return Split(inputs[train], labels[train], inputs[test], labels[test], p=p, n_classes=n_classes)


def make_split(task: Task, fraction: float, split_seed: int) -> Split:
    """The same split as write_dataset/load_split, built in memory (tests, benchmarks)."""
    import torch

    inputs, labels = (torch.from_numpy(a) for a in task.examples())
    train, test = split_indices(split_permutation(len(labels), split_seed), fraction)
    train, test = torch.from_numpy(train), torch.from_numpy(test)
    return Split(inputs[train], labels[train], inputs[test], labels[test], p=task.p)
