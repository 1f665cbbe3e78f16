"""`python -m grokglass device-check` in its CPU mode: every section runs, within the budget, and the
command needs neither snakemake nor jsonschema (the GPU machines have neither)."""

import json
import os
import subprocess
import sys

from grokglass.wlmd.settings import PROTOCOLS

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SECTIONS = [
    "machine",
    "wlmd_throughput",
    "restrained",
    "compiled_agreement",
    "host_syncs",
    "precision_agreement",
    "profile",
    "adamw",
    "segment_cli",
    "protocols",
]


def device_check(out, budget_s):
    # as on a GPU machine: a plain checkout on PYTHONPATH, snakemake and jsonschema not importable
    code = (
        "import sys; sys.modules.update(snakemake=None, jsonschema=None); from grokglass.cli import main; "
        f"sys.exit(main(['device-check', '--device', 'cpu', '--out', {str(out)!r}, '--budget-s', '{budget_s}']))"
    )
    env = {**os.environ, "PYTHONPATH": os.path.join(REPO, "workflow")}
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)


def test_cpu_device_check_runs_every_section_and_writes_both_reports(tmp_path):
    result = device_check(tmp_path, 240)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    report = json.loads((tmp_path / "device-check.json").read_text())
    assert list(report["sections"]) == SECTIONS
    for name, section in report["sections"].items():
        assert "error" not in section and "skipped" not in section, (name, section)
    assert report["seconds"] < 240
    rows = report["sections"]["wlmd_throughput"]["rows"]
    points = [(row["walkers"], row["capture"], row["noise"]) for row in rows]
    assert points == [(1, "eager", "walker"), (4, "eager", "walker"), (4, "compiled", "walker"), (4, "eager", "group")]
    assert all(row["walker_epochs_per_s"] > 0 and row["precision"] == "fp32" for row in rows)
    assert "fallback" not in rows[2] and rows[2]["compile_s"] > 0  # it really compiled
    (agreement,) = report["sections"]["compiled_agreement"]["rows"]
    assert agreement["capture"] == "compiled"
    assert max(agreement[f"max_rel_diff_{name}"] for name in ("x", "y", "params")) < 1e-5
    protocols = {row["protocol"]: row for row in report["sections"]["protocols"]["rows"]}
    assert set(protocols) == {*PROTOCOLS, "windows"}
    windows = protocols["windows"]
    assert windows["walker_epochs_per_s"] > 0 and 0 <= windows["exchange_share"] < 1 and windows["steer_s"] > 0
    assert report["sections"]["segment_cli"]["rows"][0]["returncode"] == 0
    (restrained,) = report["sections"]["restrained"]["rows"]  # K = the largest walker count (256 on a GPU)
    assert restrained["walkers"] == 4 and restrained["walker_epochs_per_s"] > 0
    assert 0.2 < restrained["kinetic_over_kT_half"] < 5  # the walkers hold their temperature
    markdown = (tmp_path / "device-check.md").read_text()
    assert "## WLMD walker-epochs/s" in markdown and "walker-epochs/s" in markdown


def test_a_spent_budget_skips_the_remaining_sections(tmp_path):
    result = device_check(tmp_path, 0.5)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    sections = json.loads((tmp_path / "device-check.json").read_text())["sections"]
    assert list(sections) == SECTIONS
    assert sections["protocols"] == {"title": sections["protocols"]["title"], "skipped": "budget spent"}
