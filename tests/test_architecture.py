"""Import contracts of the grokglass package, checked on its import graph (every `import` and
`from ... import` of every module, those inside functions included, read with ast).

- the sampler library (grokglass.wlmd) imports nothing of the pipeline: only itself and the
  base modules, directly or through anything it imports;
- layers import only downward (LAYERS, lowest first; a module may import its own layer);
- no module imports itself back through others (no cycles).

A new module must be given a layer here; the test names any it does not know.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "workflow" / "grokglass"

# lowest first: a module may import its own layer and those below it
LAYERS = {
    "base": ["grokglass", "errors", "io", "metrics", "paths"],
    "sampler library": ["wlmd"],
    "data": ["data"],
    "networks": ["nets"],
    "pipeline": ["pipeline"],
    "training": ["train"],
    "analysis": ["analysis"],
    "jobs": ["jobs"],
    "figures": ["figures"],
    "tools": ["tools"],
    "command line": ["cli", "__main__"],
}
LIBRARY_MAY_IMPORT = {"grokglass", "errors", "io", "metrics"}  # the sampler library's only outside imports (base)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(source: str, name: str, is_package: bool, modules: set[str]) -> set[str]:
    """The grokglass modules that module `name` (its `source`) imports; a `from package import
    name` counts as the submodule `package.name` when that is a module."""
    package = name if is_package else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            for alias in node.names:
                submodule = f"{origin}.{alias.name}"
                found.add(submodule if submodule in modules else origin)
    return {m for m in found if m in modules and m != name}


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    paths = sorted(PACKAGE.rglob("*.py"))
    modules = {module_name(p) for p in paths}
    return {module_name(p): imports_of(p.read_text(), module_name(p), p.name == "__init__.py", modules) for p in paths}


def unit(module: str) -> str:
    """A module's top-level unit: the subpackage or root module it belongs to."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def layer_of(module: str) -> int:
    for rank, units in enumerate(LAYERS.values()):
        if unit(module) in units:
            return rank
    raise KeyError(module)


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for target in graph[todo.pop()]:
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def test_every_module_has_a_layer(graph):
    unknown = sorted(m for m in graph if not any(unit(m) in units for units in LAYERS.values()))
    assert not unknown, f"give these modules a layer in LAYERS: {unknown}"


def test_the_sampler_library_imports_nothing_of_the_pipeline(graph):
    library = [m for m in graph if unit(m) == "wlmd"]
    assert library, "grokglass.wlmd not found"
    outside = {
        f"{m} -> {target}"
        for m in library
        for target in reachable(graph, m)
        if unit(target) != "wlmd" and unit(target) not in LIBRARY_MAY_IMPORT
    }
    assert not outside, f"the sampler library reaches the pipeline: {sorted(outside)}"


def test_layers_import_only_downward(graph):
    upward = sorted(
        f"{m} ({unit(m)}) -> {target} ({unit(target)})"
        for m, targets in graph.items()
        for target in targets
        if layer_of(target) > layer_of(m)
    )
    assert not upward, "imports up the layers:\n" + "\n".join(upward)


def test_no_import_cycles(graph):
    cycles = sorted(m for m in graph if m in reachable(graph, m))
    assert not cycles, f"modules that import themselves back: {cycles}"


def test_the_graph_sees_lazy_and_relative_imports():
    """What the contracts rest on: an import inside a function and a relative one are edges."""
    modules = {"grokglass.wlmd", "grokglass.wlmd.sampler", "grokglass.wlmd.probe", "grokglass.pipeline.specs"}
    source = "def f():\n    from grokglass.pipeline.specs import LandscapeSpec\n\n\nfrom . import sampler\n"
    found = imports_of(source, "grokglass.wlmd.probe", False, modules)
    assert found == {"grokglass.pipeline.specs", "grokglass.wlmd.sampler"}
    graph = {"grokglass.wlmd.probe": found, "grokglass.pipeline.specs": set(), "grokglass.wlmd.sampler": set()}
    assert "grokglass.pipeline.specs" in reachable(graph, "grokglass.wlmd.probe")  # the library contract would fail


TORCH_GLOBALS = (
    "torch.set_num_threads",
    "set_float32_matmul_precision",
    "allow_tf32 =",
    "use_deterministic_algorithms",
)


def test_torch_global_settings_change_only_through_io_torch_settings():
    """A job's threads or matmul precision leak into whatever runs next in the process unless one
    named function sets them and restores them (grokglass.io.torch_settings)."""
    offenders = sorted(
        f"{path.relative_to(PACKAGE)}:{number}"
        for path in PACKAGE.rglob("*.py")
        if path.name != "io.py"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if any(setting in line for setting in TORCH_GLOBALS) and not line.lstrip().startswith("#")
    )
    assert not offenders, f"torch's global settings changed outside io.torch_settings: {offenders}"


def test_a_module_over_400_lines_says_why_in_its_docstring():
    long = {
        str(path.relative_to(PACKAGE)): ast.get_docstring(ast.parse(path.read_text())) or ""
        for path in PACKAGE.rglob("*.py")
        if len(path.read_text().splitlines()) > 400
    }
    silent = sorted(name for name, doc in long.items() if "Long because" not in doc)
    assert not silent, f"split these, or say in their docstrings why not ('Long because ...'): {silent}"
