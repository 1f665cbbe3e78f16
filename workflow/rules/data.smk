rule dataset:
    """All p^2 examples of one expression task in their frozen random order (splits derive from it)."""
    output:
        paths.DATASET,
    log:
        "logs/dataset/{task}.log",
    wildcard_constraints:
        task=one_of(names_of_kind("expression")),
    localrule: True
    conda:
        "../../envs/grokglass.yaml"
    params:
        expression=lambda wildcards: shlex.quote(DATASETS[wildcards.task].expression),
        p=lambda wildcards: DATASETS[wildcards.task].p,
        split_seed=lambda wildcards: DATASETS[wildcards.task].split_seed,
    shell:
        "python -m grokglass dataset --task {wildcards.task} --expression {params.expression}"
        " --p {params.p} --split-seed {params.split_seed} --out {output} > {log} 2>&1"


rule ising_dataset:
    """Ising configurations sampled by Metropolis, labelled by energy class and balanced (spec 10.2)."""
    output:
        paths.DATASET,
    log:
        "logs/dataset/{task}.log",
    wildcard_constraints:
        task=one_of(names_of_kind("ising")),
    localrule: True
    conda:
        "../../envs/grokglass.yaml"
    threads: 1
    params:
        spec=lambda wildcards: quoted_json(DATASETS[wildcards.task]),
    shell:
        "python -m grokglass ising-dataset --spec-json {params.spec}"
        " --device cpu --threads {threads} --out {output} > {log} 2>&1"
