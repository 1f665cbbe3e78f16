"""Expected errors: what a command was given is wrong (a file, an argument, the config).

The command line (grokglass.cli.main) prints such an error (ExpectedError) as one line naming the file or
argument and exits with status 2, without a traceback; anything else is a bug and keeps
its traceback. Torch-free, so the config checks can use it.
"""

from __future__ import annotations

from dataclasses import fields


class ExpectedError(ValueError):
    """An error the user can act on from its one line; cli.main prints it without a traceback."""


class InputError(ExpectedError):
    """A missing, corrupt or mismatched input, or a bad argument; the message names it."""


class SpecError(InputError):
    """A spec given with unknown keys or impossible values."""


def check_keys(cls, data: dict, what: str) -> None:
    """Refuse keys of `data` that are not fields of the dataclass `cls` (one SpecError naming them)."""
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise SpecError(f"{what}: unknown keys {unknown} (known: {sorted(known)})")


class DivergenceError(ExpectedError, FloatingPointError):
    """The sampler's dynamics left the physical regime (runaway kinetic energy, walkers pinned
    outside the grid, non-finite coordinates): the job stops before writing anything."""


def one_line(err: BaseException) -> str:
    """An exception's whole message on one line (h5py, YAML and torch messages span several)."""
    return " ".join(str(err).split()) or type(err).__name__


def first_line(err: BaseException) -> str:
    """The first line of an exception's message (a compiler's or driver's runs for pages)."""
    text = str(err).strip()
    return text.splitlines()[0] if text else ""
