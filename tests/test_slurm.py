"""The cluster path on a real Slurm: `snakemake --profile profiles/slurm` submits the GPU rules
(train, wlmd_segment) as Slurm jobs that ask for and get a (fake) GPU, the jobs fall back to CPU,
and the workflow survives a cancelled segment job, preempted jobs and a SIGKILLed Snakemake,
reproducing the uninterrupted landscape bit for bit (CPU determinism).

Needs the local single-node cluster of tests/slurm/cluster-up.sh (fake GPUs, accounting, a
preempting partition); skipped when it is not up, unless GROKGLASS_REQUIRE_SLURM=1, which turns
the skip into a failure. See tests/slurm/README.md. About 5-6 minutes on 2 cores.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

pytestmark = pytest.mark.slurm

REPO = Path(__file__).resolve().parents[1]
CI_DIR = REPO / "tests" / "slurm"
COPY_ITEMS = ["Snakefile", "config.yaml", "workflow", "profiles", "envs"]
PARTITION = "main"  # tests/slurm/profile-ci/profile.yaml submits here
TARGETS = [
    "results/wlmd/grok_add/landscape.h5",
    "results/train/adamw_add/metrics.h5",
    "results/figures/fig4.png",
]
SEGMENTS = [(seg, group) for seg in (0, 1) for group in (0, 1)]  # config-ci.yaml: 2 x 2
RUN_TIMEOUT = 420  # seconds per Snakemake invocation (a normal one takes about 1.5 min)
CPU_FALLBACK = "device: CUDA not available, running on CPU"
# finished before any second-segment job starts, so no restart may redo them
EARLY_OUTPUTS = ["results/data/add.h5", "results/wlmd/grok_add/seg0/merged.h5"] + [
    f"results/wlmd/grok_add/seg0/group{g}.{ext}" for g in (0, 1) for ext in ("pt", "h5")
]


# ----- the cluster ------------------------------------------------------------------------------
def _sh(*cmd: str, timeout: float = 20) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def cluster_problem() -> str | None:
    """Why the local Slurm cluster cannot run these tests, or None when it can."""
    for tool in ("sinfo", "sbatch", "squeue", "sacct", "scancel"):
        if shutil.which(tool) is None:
            return f"'{tool}' not found: no Slurm here (bring one up with: bash tests/slurm/cluster-up.sh)"
    try:
        state = _sh("sinfo", "-h", "-p", PARTITION, "-o", "%T")
        if state.returncode != 0:
            return f"Slurm controller not reachable ({state.stderr.strip()[:200]}); run: bash tests/slurm/cluster-up.sh"
        states = set(state.stdout.split())
        if not states & {"idle", "mixed", "allocated", "completing"}:
            return (
                f"no usable node in partition '{PARTITION}' (sinfo says {sorted(states) or 'nothing'});"
                " run: bash tests/slurm/cluster-up.sh"
            )
        acct = _sh("sacct", "-n", "-X", "-S", "now-1hour", "-o", "JobID")
        if acct.returncode != 0:
            return f"sacct does not work (no slurmdbd?): {acct.stderr.strip()[:200]}"
        gres = _sh("sinfo", "-h", "-p", PARTITION, "-o", "%G")
        if "gpu" not in gres.stdout:
            return f"partition '{PARTITION}' offers no (fake) GPUs: sinfo %G = {gres.stdout.strip()!r}"
    except subprocess.TimeoutExpired as err:
        return f"Slurm command timed out: {err.cmd}"
    return None


@pytest.fixture(scope="module")
def slurm_cluster():
    problem = cluster_problem()
    if problem:
        if os.environ.get("GROKGLASS_REQUIRE_SLURM") == "1":
            pytest.fail(f"GROKGLASS_REQUIRE_SLURM=1 but {problem}", pytrace=False)
        pytest.skip(problem)
    return PARTITION


# ----- running the workflow ---------------------------------------------------------------------
def copy_repo(dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for item in COPY_ITEMS:
        src = REPO / item
        if src.is_dir():
            shutil.copytree(src, dest / item, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy(src, dest / item)
    # the CI overlays travel with the copy, so the jobs never read the live repo
    shutil.copytree(CI_DIR / "profile-ci", dest / "ci" / "profile-ci")
    shutil.copy(CI_DIR / "config-ci.yaml", dest / "ci" / "config-ci.yaml")
    return dest


def snakemake_cmd(work: Path, *extra: str) -> list[str]:
    """The command a user runs, plus the CI overlays: profiles/slurm + ci/profile-ci."""
    return [
        sys.executable,
        "-m",
        "snakemake",
        *TARGETS,
        "--profile",
        "profiles/slurm",
        "--profile",
        str(work / "ci" / "profile-ci"),
        *extra,
        "--config",
        "scale=quick",
        "device=auto",
        "--configfile",
        str(work / "ci" / "config-ci.yaml"),
    ]


def start(work: Path, name: str, *extra: str) -> tuple[subprocess.Popen, Path]:
    log = work / f"{name}.log"
    with open(log, "w") as fh:
        proc = subprocess.Popen(
            snakemake_cmd(work, *extra), cwd=work, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True
        )
    return proc, log


def finish(proc: subprocess.Popen, log: Path, timeout: float = RUN_TIMEOUT) -> int:
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        cancel_jobs(log.parent)
        pytest.fail(f"snakemake ran past {timeout} s; last lines:\n{tail(log)}")


def run(work: Path, name: str, *extra: str) -> tuple[int, str]:
    proc, log = start(work, name, *extra)
    code = finish(proc, log)
    return code, log.read_text()


def tail(log: Path, n: int = 6000) -> str:
    return log.read_text()[-n:] if log.exists() else "(no log)"


def squeue(work: Path) -> list[dict]:
    """This work dir's jobs in the queue: id, state, comment (rule_<rule>_wildcards_<...>)."""
    out = _sh("squeue", "-h", "-o", "%i|%T|%k|%Z").stdout
    jobs = []
    for line in out.splitlines():
        jobid, state, comment, workdir = line.split("|", 3)
        if Path(workdir).resolve() == work.resolve():
            jobs.append({"id": jobid, "state": state, "comment": comment})
    return jobs


def cancel_jobs(work: Path) -> None:
    ids = [job["id"] for job in squeue(work)]
    if ids:
        _sh("scancel", *ids)


def sacct(work: Path, since: float, duplicates: bool = False) -> list[dict]:
    """The jobs run in `work` since `since` (a time.time()), as the accounting database has them
    (duplicates: a requeued job's earlier runs too)."""
    fields = ["JobID", "JobName", "Comment", "State", "AllocTRES", "Partition", "WorkDir", "SubmitLine"]
    start = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(since - 1))
    out = _sh("sacct", "-X", "-P", "-n", *(["-D"] if duplicates else []), "-S", start, "-o", ",".join(fields)).stdout
    jobs = []
    for line in out.splitlines():
        row = dict(zip(fields, line.split("|", len(fields) - 1)))
        if row.get("WorkDir") and Path(row["WorkDir"]).resolve() == work.resolve():
            jobs.append(row)
    return jobs


def rule_of(comment: str) -> str:
    return comment.removeprefix("rule_").split("_wildcards_")[0]


def segment_comment(seg: int, group: int) -> str:
    return f"rule_wlmd_segment_wildcards_grok_add_{seg}_{group}"


def wait_for_running_segment(
    work: Path, proc: subprocess.Popen, log: Path, seg: int, timeout: float = 300, exclude: set[str] = frozenset()
):
    """A RUNNING wlmd_segment job of segment `seg` whose sampler has started (its log says so)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"snakemake exited ({proc.returncode}) before a segment-{seg} job ran:\n{tail(log)}")
        for job in squeue(work):
            for group in (0, 1):
                rule_log = work / f"logs/wlmd/grok_add/seg{seg}_group{group}.log"
                if (
                    job["state"] == "RUNNING"
                    and job["comment"] == segment_comment(seg, group)
                    and job["id"] not in exclude
                    and rule_log.exists()
                    and f"segment {seg} group {group}," in rule_log.read_text()
                ):
                    return job, group
        time.sleep(0.2)
    pytest.fail(f"no segment-{seg} job was seen running within {timeout} s:\n{tail(log)}")


def mtimes(work: Path, paths: list[str]) -> dict[str, int]:
    return {p: (work / p).stat().st_mtime_ns for p in paths}


def landscape_arrays(work: Path) -> dict[str, np.ndarray]:
    with h5py.File(work / "results/wlmd/grok_add/landscape.h5", "r") as h5:
        return {name: h5[name][()] for name in ("entropy", "walker_entropy", "histogram")}


def assert_same_landscape(work: Path, reference: dict[str, np.ndarray]) -> None:
    arrays = landscape_arrays(work)
    for name, ref in reference.items():
        got = arrays[name]
        assert got.shape == ref.shape, name
        nan_ok = np.issubdtype(ref.dtype, np.floating)
        assert np.array_equal(got, ref, equal_nan=nan_ok), (
            f"{name} differs from the uninterrupted run (max |diff| "
            f"{np.nanmax(np.abs(got.astype(float) - ref.astype(float)))})"
        )


def assert_outputs(work: Path) -> None:
    for target in TARGETS:
        path = work / target
        assert path.exists() and path.stat().st_size > 0, f"missing {target}"


@pytest.fixture(scope="module")
def uninterrupted(slurm_cluster, tmp_path_factory):
    """One uninterrupted run of the subset through profiles/slurm."""
    work = copy_repo(tmp_path_factory.mktemp("slurm-uninterrupted"))
    since = time.time()
    code, output = run(work, "snakemake")
    cancel_jobs(work)
    assert code == 0, output[-6000:]
    return {"work": work, "since": since, "output": output, "landscape": landscape_arrays(work)}


# ----- 1. the plain run -------------------------------------------------------------------------
def test_outputs_exist(uninterrupted):
    work = uninterrupted["work"]
    assert_outputs(work)
    with h5py.File(work / TARGETS[0], "r") as h5:
        assert {"entropy", "walker_entropy", "histogram"} <= set(h5.keys())
        assert np.nanmin(h5["entropy"][()]) == 0.0


def test_gpu_rules_ran_as_completed_slurm_jobs(uninterrupted):
    work = uninterrupted["work"]
    jobs = sacct(work, uninterrupted["since"])
    comments = sorted(job["Comment"] for job in jobs)
    expected = sorted(["rule_train_wildcards_adamw_add"] + [segment_comment(s, g) for s, g in SEGMENTS])
    # only the GPU rules are submitted: datasets, merges, landscape and figures are local rules
    assert comments == expected, jobs
    for job in jobs:
        assert job["State"] == "COMPLETED", job
        assert job["Partition"] == PARTITION, job
    # the plugin's per-job Slurm logs (profiles/slurm: slurm-logdir logs/slurm, kept on success)
    slurm_logs = sorted(p.relative_to(work / "logs/slurm").parts[:2] for p in (work / "logs/slurm").rglob("*.log"))
    assert slurm_logs == sorted(
        [("rule_train", "adamw_add")] + [("rule_wlmd_segment", f"grok_add_{s}_{g}") for s, g in SEGMENTS]
    )
    for job in jobs:
        sub = work / "logs/slurm" / f"rule_{rule_of(job['Comment'])}"
        assert list(sub.rglob(f"{job['JobID']}.log")), f"no Slurm log for job {job['JobID']}"


def test_gpu_rules_asked_for_and_got_a_gpu(uninterrupted):
    jobs = sacct(uninterrupted["work"], uninterrupted["since"])
    assert {rule_of(job["Comment"]) for job in jobs} == {"train", "wlmd_segment"}
    for job in jobs:
        assert "--gpus=1" in job["SubmitLine"], job["SubmitLine"][:400]
        assert "gres/gpu=1" in job["AllocTRES"], job


def test_jobs_fell_back_to_cpu(uninterrupted):
    work = uninterrupted["work"]
    logs = [work / "logs/train/adamw_add.log"]
    logs += [work / f"logs/wlmd/grok_add/seg{s}_group{g}.log" for s, g in SEGMENTS]
    for log in logs:
        text = log.read_text()
        assert CPU_FALLBACK in text, f"{log.name}:\n{text[:500]}"
        assert "device: cpu" in text


# ----- 2. a cancelled and a preempted segment job ----------------------------------------------
def preempt_running_jobs(work: Path) -> list[str]:
    """Real Slurm preemption: a job in the high-priority partition that needs every (fake) GPU
    preempts the running jobs of `work`; Slurm requeues them (they were submitted --requeue).
    Slurm holds a requeued job back for 2 minutes (BeginTime); release it at once."""
    gres = _sh("sinfo", "-h", "-p", PARTITION, "-o", "%G").stdout.strip()  # e.g. gpu:fake:2
    gpus = int(gres.split("(")[0].rsplit(":", 1)[-1])
    running = {job["id"] for job in squeue(work) if job["state"] == "RUNNING"}
    urgent = _sh(
        "sbatch",
        "--parsable",
        "-p",
        f"{PARTITION}-urgent",
        f"--gpus={gpus}",
        "-t",
        "1",
        "-J",
        "urgent",
        "-D",
        "/tmp",
        "-o",
        "/dev/null",
        "--wrap",
        "sleep 1",
    )
    assert urgent.returncode == 0, urgent.stderr
    deadline = time.monotonic() + 30
    requeued: set[str] = set()
    while time.monotonic() < deadline and requeued != running:
        for job in squeue(work):
            if job["id"] in running and job["state"] == "PENDING" and job["id"] not in requeued:
                _sh("scontrol", "update", f"jobid={job['id']}", "starttime=now")
                requeued.add(job["id"])
        time.sleep(0.2)
    return sorted(requeued)


def test_cancelled_and_preempted_segments_are_redone_alone(uninterrupted, tmp_path_factory):
    """scancel one running segment job, preempt the next running ones: Snakemake resubmits the
    cancelled one (retries: 1), Slurm requeues the preempted ones, the run completes, nothing
    finished earlier is redone, and the landscape equals the uninterrupted one."""
    work = copy_repo(tmp_path_factory.mktemp("slurm-cancelled"))
    since = time.time()
    proc, log = start(work, "snakemake-1")
    try:
        victim, group = wait_for_running_segment(work, proc, log, seg=1)
        before = mtimes(work, EARLY_OUTPUTS)
        assert _sh("scancel", victim["id"]).returncode == 0
        wait_for_running_segment(work, proc, log, seg=1, exclude={victim["id"]})
        preempted = preempt_running_jobs(work)
        assert preempted, "no job of this run was preempted and requeued"
        first = finish(proc, log)
    finally:
        if proc.poll() is None:
            proc.kill()
        cancel_jobs(work)
    first_output = log.read_text()
    assert f"SLURM-job '{victim['id']}' failed, SLURM status is: 'CANCELLED'" in first_output, first_output[-4000:]
    # the run itself recovers; rerunning the same command then has nothing left to do
    assert first == 0, first_output[-6000:]
    code, output = run(work, "snakemake-2")
    assert code == 0, output[-6000:]
    assert "Nothing to be done" in output, output[-3000:]
    assert_outputs(work)
    assert mtimes(work, EARLY_OUTPUTS) == before, "work finished before the interruptions was redone"

    # accounting: the cancelled segment has a second job, the preempted ones ran again under
    # their own job ids, every other job ran once
    jobs = sacct(work, since)
    by_comment: dict[str, list[str]] = {}
    for job in jobs:
        by_comment.setdefault(job["Comment"], []).append(job["State"].split()[0])  # "CANCELLED by 0"
    assert sorted(by_comment.pop(segment_comment(1, group))) == ["CANCELLED", "COMPLETED"], jobs
    assert sorted(by_comment) == sorted(
        ["rule_train_wildcards_adamw_add"] + [segment_comment(s, g) for s, g in SEGMENTS if (s, g) != (1, group)]
    )
    assert all(states == ["COMPLETED"] for states in by_comment.values()), by_comment
    history = sacct(work, since, duplicates=True)
    for jobid in preempted:
        states = [job["State"] for job in history if job["JobID"] == jobid]
        assert "PREEMPTED" in states and states[-1] == "COMPLETED", (jobid, states)
    assert_same_landscape(work, uninterrupted["landscape"])


# ----- 3. Snakemake itself killed (lost head node) ----------------------------------------------
def test_sigkilled_snakemake_unlock_rerun_gives_identical_landscape(uninterrupted, tmp_path_factory):
    work = copy_repo(tmp_path_factory.mktemp("slurm-sigkill"))
    proc, log = start(work, "snakemake-1")
    try:
        wait_for_running_segment(work, proc, log, seg=1)
        before = mtimes(work, EARLY_OUTPUTS)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    # the killed Snakemake left its lock behind; its Slurm jobs keep running, as on a real cluster
    assert any((work / ".snakemake" / "locks").iterdir()), "no stale lock left by the killed Snakemake"
    assert run(work, "snakemake-unlock", "--unlock")[0] == 0
    try:
        code, output = run(work, "snakemake-2")
    finally:
        cancel_jobs(work)
    assert code == 0, output[-6000:]
    assert_outputs(work)
    assert mtimes(work, EARLY_OUTPUTS) == before, "the rerun redid work finished before the kill"
    assert_same_landscape(work, uninterrupted["landscape"])
