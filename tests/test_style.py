"""The house style as tools: ruff (lint and format) over the package and the tests, snakefmt over the
Snakefile and the rules. Settings in pyproject.toml; versions pinned in its `test` extra."""

import os
import pathlib
import re
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYTHON_TREES = ["workflow", "tests"]
SNAKEMAKE_FILES = ["Snakefile", "workflow/rules"]


def run(*args):
    return subprocess.run([sys.executable, "-m", *args], cwd=REPO, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize(
    "command",
    [
        ["ruff", "check", *PYTHON_TREES],
        ["ruff", "format", "--check", *PYTHON_TREES],
        ["snakefmt", "--check", *SNAKEMAKE_FILES],
    ],
    ids=["ruff-check", "ruff-format", "snakefmt"],
)
def test_tree_follows_the_house_style(command):
    result = run(*command)
    assert result.returncode == 0, f"`{' '.join(command)}` failed:\n{result.stdout}{result.stderr}"[-4000:]


def test_each_results_path_pattern_lives_in_grokglass_paths():
    """Rules and package take every results/ path from grokglass.paths (one place to change a layout)."""
    result = subprocess.run(
        ["grep", "-rn", "--include=*.py", "--include=*.smk", "results/", "workflow", "Snakefile"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    elsewhere = [line for line in result.stdout.splitlines() if not line.startswith("workflow/grokglass/paths.py")]
    assert elsewhere == []
    patterns = [line.split(":", 2)[2] for line in result.stdout.splitlines()]
    assert len(patterns) == len(set(patterns))  # no pattern written twice


def test_no_tracked_file_points_outside_the_repository():
    """The repository stands on its own: no tracked file names the developers' shared folder."""
    result = subprocess.run(
        ["git", "grep", "-n", "-F", "-e", "../" + "shared", "--", "."], cwd=REPO, capture_output=True, text=True
    )
    if result.returncode not in (0, 1):  # not a git checkout (a copied tree): nothing to check
        pytest.skip("not a git checkout")
    offending = result.stdout.splitlines()
    assert not offending, "\n".join(offending)


def test_user_facing_text_names_no_tracker_issue():
    """README, config.yaml and docs/ cite what a reader can open (a section, a file), never a
    development issue number, which resolves nowhere in the repository."""
    root = pathlib.Path(REPO)
    paths = [root / "README.md", root / "config.yaml", *sorted((root / "docs").glob("*.md"))]
    offending = [
        f"{path.name}:{n}: {line.strip()[:100]}"
        for path in paths
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"\bissues? \d+", line)
    ]
    assert not offending, "\n".join(offending)
