rule train:
    """One training run (AdamW, fixed-norm AdamW, WanD, hybrid or SGLD) of config `runs`."""
    input:
        data=run_data,
    output:
        metrics="results/train/{run}/metrics.h5",
        checkpoint="results/train/{run}/model.pt",
    log:
        "logs/train/{run}.log",
    benchmark:
        "benchmarks/train/{run}.tsv"
    params:
        run=run_json,
        device=DEVICE,
    threads: 1
    resources:
        gpu=1,
        mem_mb=4000,
        runtime=60,
    conda:
        "../../envs/grokglass.yaml"
    shell:
        "python -m grokglass train --data {input.data} --run-json {params.run}"
        " --metrics {output.metrics} --checkpoint {output.checkpoint}"
        " --device {params.device} --threads {threads} > {log} 2>&1"


rule ising_snapshots:
    """The Ising classifier's layer analysis: weight spectra and activation PCA at log-spaced epochs."""
    input:
        data=lambda wildcards: f"results/data/{ISING_PCA_RUN['task']}.h5",
    output:
        snapshots=ISING_SNAPSHOTS,
        metrics="results/ising/pca/metrics.h5",
    log:
        "logs/ising/pca.log",
    benchmark:
        "benchmarks/ising/pca.tsv"
    params:
        run=lambda wildcards: as_json(ISING_PCA_RUN),
        device=DEVICE,
    threads: 1
    resources:
        gpu=1,
        mem_mb=4000,
        runtime=60,
    conda:
        "../../envs/grokglass.yaml"
    shell:
        "python -m grokglass ising-snapshots --data {input.data} --run-json {params.run}"
        " --out {output.snapshots} --metrics {output.metrics}"
        " --device {params.device} --threads {threads} > {log} 2>&1"
