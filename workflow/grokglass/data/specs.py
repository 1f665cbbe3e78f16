"""The datasets as typed specs: an arithmetic expression mod p, or Ising configurations. Each
owns its defaults (the [D] choices of spec 10.2 for Ising), its output path (grokglass.paths)
and its JSON form; nothing here imports torch or h5py."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

from grokglass import paths
from grokglass.errors import check_keys


@dataclass(frozen=True)
class ExpressionDataset:
    """All pairs (x, y) of `expression` mod p in the frozen random order of split_seed."""

    name: str
    expression: str
    p: int
    split_seed: int = 0
    kind: ClassVar[str] = "expression"

    @property
    def path(self) -> str:
        return paths.DATASET.format(task=self.name)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def temperature_grid(lo: float, hi: float, n: int) -> list[float]:
    """n evenly spaced temperatures from lo to hi, rounded to 10 digits (stable in attributes)."""
    if n == 1:
        return [round(float(lo), 10)]
    return [round(lo + (hi - lo) * i / (n - 1), 10) for i in range(n)]


@dataclass(frozen=True)
class IsingDataset:
    """2-D Ising configurations labelled by energy class (spec 10.2); every value is [D]."""

    name: str
    L: int = 16
    temperatures: tuple[float, ...] = tuple(temperature_grid(1.0, 5.0, 41))
    include_infinite_temperature: bool = True
    equilibration_sweeps: int = 1000
    sample_every: int = 20
    samples_per_temperature: int = 400
    chains_per_temperature: int = 20
    n_classes: int = 4
    label_range: tuple[float, float] = (-2.0, 0.0)
    label_margin: float = 0.0  # energy per spin kept clear of each inner boundary (docs/validation.md 7.4)
    pool_size: int = 5000
    stratified_splits: bool = False
    seed: int = 0
    split_seed: int = 0
    kind: ClassVar[str] = "ising"

    def __post_init__(self):
        object.__setattr__(self, "temperatures", tuple(float(t) for t in self.temperatures))
        object.__setattr__(self, "label_range", tuple(float(v) for v in self.label_range))
        object.__setattr__(self, "label_margin", float(self.label_margin))  # 0 and 0.0: one spec

    @classmethod
    def from_config(cls, name: str, task: dict, split_seed: int) -> IsingDataset:
        """From a config.yaml task of kind ising (temperatures as {min, max, n} or a list)."""
        task = {k: v for k, v in task.items() if k != "kind"}
        temperatures = task.pop("temperatures", None)
        if isinstance(temperatures, dict):
            task["temperatures"] = temperature_grid(
                float(temperatures["min"]), float(temperatures["max"]), int(temperatures["n"])
            )
        elif temperatures is not None:
            task["temperatures"] = temperatures
        check_keys(cls, task, f"tasks.{name}")
        return cls(name=name, split_seed=split_seed, **task)

    @property
    def path(self) -> str:
        return paths.DATASET.format(task=self.name)

    def generator_kwargs(self) -> dict:
        """Keyword arguments of grokglass.data.ising.generate_ising_dataset (all but the path)."""
        kwargs = dataclasses.asdict(self)
        del kwargs["name"]
        return kwargs

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data.update(temperatures=list(self.temperatures), label_range=list(self.label_range))
        return data

    @classmethod
    def from_dict(cls, data: dict) -> IsingDataset:
        check_keys(cls, data, "ising dataset spec")
        return cls(**data)


DatasetSpec = ExpressionDataset | IsingDataset
