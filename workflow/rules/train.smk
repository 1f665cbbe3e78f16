rule train:
    """One training run (AdamW, fixed-norm AdamW, WanD, hybrid or SGLD) of the experiment's runs."""
    input:
        data=lambda wildcards: RUNS[wildcards.run].data_path,
    output:
        metrics=paths.RUN_METRICS,
        checkpoint=paths.RUN_CHECKPOINT,
    log:
        "logs/train/{run}.log",
    benchmark:
        "benchmarks/train/{run}.tsv"
    conda:
        "../../envs/grokglass.yaml"
    threads: 1
    resources:
        gpu=1,
        mem_mb=4000,
        runtime=60,
    params:
        run=lambda wildcards: quoted_json(RUNS[wildcards.run]),
        device=DEVICE,
        precision=MATMUL_PRECISION,
    shell:
        "python -m grokglass train --data {input.data} --run-json {params.run}"
        " --metrics {output.metrics} --checkpoint {output.checkpoint}"
        " --device {params.device} --matmul-precision {params.precision} --threads {threads} > {log} 2>&1"


# a trained network a restrained landscape starts from heads that landscape's chain of segments
# and merges: it goes first among ready jobs, as the chains' links do
use rule train as train_start with:
    wildcard_constraints:
        run=one_of(START_RUNS),
    priority: 10


ruleorder: train_start > train


rule ising_snapshots:
    """The Ising classifier's layer analysis: weight spectra and activation PCA at log-spaced epochs."""
    input:
        data=lambda wildcards: EXPERIMENT.snapshots.run.data_path,
    output:
        snapshots=paths.ISING_SNAPSHOTS,
        metrics=paths.ISING_SNAPSHOT_METRICS,
    log:
        "logs/ising/pca.log",
    benchmark:
        "benchmarks/ising/pca.tsv"
    conda:
        "../../envs/grokglass.yaml"
    threads: 1
    resources:
        gpu=1,
        mem_mb=4000,
        runtime=60,
    params:
        spec=lambda wildcards: quoted_json(EXPERIMENT.snapshots),
        device=DEVICE,
        precision=MATMUL_PRECISION,
    shell:
        "python -m grokglass ising-snapshots --data {input.data} --spec-json {params.spec}"
        " --out {output.snapshots} --metrics {output.metrics}"
        " --device {params.device} --matmul-precision {params.precision} --threads {threads} > {log} 2>&1"
