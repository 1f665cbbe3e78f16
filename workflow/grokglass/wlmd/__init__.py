"""Entropy landscapes of any system (spec 5), two methods with one grid type:

- `grokglass.wlmd.sample(system, grid, sampler, ...)`: Wang-Landau molecular dynamics, the
  paper's method (wlmd.windows.sample), which fills a map with deposits;
- `grokglass.wlmd.sample_restrained(system, windows, epochs, ...)`: restrained windows
  (wlmd.restrained), which measure the entropy's gradient window by window and integrate it,
  at a cost that does not grow with the map's depth.

The rest of the package is the pipeline's segments and merges. Imported lazily, so that
reading the settings needs no torch."""

_RESTRAINED = ("sample_restrained", "RestrainedSampler", "RestraintSettings", "RestraintWindows", "RestrainedResult")


def __getattr__(name):
    if name in ("sample", "WindowSettings", "SampleResult"):
        from grokglass.wlmd import windows

        return getattr(windows, name)
    if name in _RESTRAINED:
        from grokglass.wlmd import restrained

        return getattr(restrained, name)
    if name == "ModuleSystem":
        from grokglass.wlmd.systems import ModuleSystem

        return ModuleSystem
    raise AttributeError(f"module 'grokglass.wlmd' has no attribute {name!r}")
