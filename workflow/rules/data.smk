rule dataset:
    """All p^2 examples of one task with the split indices of every configured fraction."""
    output:
        "results/data/{task}.h5",
    log:
        "logs/dataset/{task}.log",
    params:
        expression=lambda wildcards: shlex.quote(C["tasks"][wildcards.task]),
        p=C["p"],
        fractions=" ".join(str(f) for f in FRACTIONS),
        split_seed=C["split_seed"],
    localrule: True
    conda:
        "../../envs/grokglass.yaml"
    shell:
        "python -m grokglass dataset --task {wildcards.task} --expression {params.expression}"
        " --p {params.p} --fractions {params.fractions} --split-seed {params.split_seed}"
        " --out {output} > {log} 2>&1"
