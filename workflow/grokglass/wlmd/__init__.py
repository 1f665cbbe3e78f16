"""Entropy landscapes of any system (spec 5), two methods with one grid type:

- `grokglass.wlmd.sample(system, grid, sampler, ...)`: Wang-Landau molecular dynamics, the
  paper's method (wlmd.windows.sample), which fills a map with deposits;
- `grokglass.wlmd.sample_restrained(system, windows, epochs, ...)`: restrained windows
  (wlmd.restrained), which measure the entropy's gradient window by window and integrate it,
  at a cost that does not grow with the map's depth.

This package is a library: it imports nothing of the pipeline (its jobs are grokglass.jobs; the
paper's networks adapt themselves to it in grokglass.nets.systems), which
tests/test_architecture.py checks. Imported lazily, so that reading the settings needs no torch."""

_HOMES = {  # name -> the module that defines it
    "sample": "windows",
    "WindowSettings": "windows",
    "SampleResult": "windows",
    "sample_restrained": "restrained",
    "RestrainedSampler": "restrained",
    "RestraintSettings": "restraints",
    "RestraintWindows": "restraints",
    "RestrainedResult": "restrained_map",
    "ModuleSystem": "systems",
    "System": "systems",
}


def __getattr__(name):
    if name in _HOMES:
        import importlib

        return getattr(importlib.import_module(f"grokglass.wlmd.{_HOMES[name]}"), name)
    raise AttributeError(f"module 'grokglass.wlmd' has no attribute {name!r}")
