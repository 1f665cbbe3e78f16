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
