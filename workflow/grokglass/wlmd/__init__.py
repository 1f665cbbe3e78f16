"""Wang-Landau molecular dynamics (spec 5). `grokglass.wlmd.sample(system, grid, sampler, ...)`
learns the entropy of any system (wlmd.windows.sample); the rest of the package is the
pipeline's segments and merges. Imported lazily, so that reading the settings needs no torch."""


def __getattr__(name):
    if name in ("sample", "WindowSettings", "SampleResult"):
        from grokglass.wlmd import windows

        return getattr(windows, name)
    if name == "ModuleSystem":
        from grokglass.wlmd.systems import ModuleSystem

        return ModuleSystem
    raise AttributeError(f"module 'grokglass.wlmd' has no attribute {name!r}")
