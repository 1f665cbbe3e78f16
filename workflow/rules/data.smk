rule dataset:
    """All p^2 examples of one expression task with the split indices of every fraction it uses."""
    output:
        "results/data/{task}.h5",
    wildcard_constraints:
        task=one_of(EXPRESSION_TASKS),
    log:
        "logs/dataset/{task}.log",
    params:
        expression=lambda wildcards: shlex.quote(EXPRESSION_TASKS[wildcards.task]),
        p=C["p"],
        fractions=task_fractions,
        split_seed=C["split_seed"],
    localrule: True
    conda:
        "../../envs/grokglass.yaml"
    shell:
        "python -m grokglass dataset --task {wildcards.task} --expression {params.expression}"
        " --p {params.p} --fractions {params.fractions} --split-seed {params.split_seed}"
        " --out {output} > {log} 2>&1"


rule ising_dataset:
    """Ising configurations sampled by Metropolis, labelled by energy class and balanced (spec 10.2)."""
    output:
        "results/data/{task}.h5",
    wildcard_constraints:
        task=one_of(ISING_TASKS),
    log:
        "logs/dataset/{task}.log",
    params:
        task=ising_task_json,
        fractions=task_fractions,
        split_seed=C["split_seed"],
    threads: 1
    localrule: True
    conda:
        "../../envs/grokglass.yaml"
    shell:
        "python -m grokglass ising-dataset --task-json {params.task} --fractions {params.fractions}"
        " --split-seed {params.split_seed} --device cpu --threads {threads} --out {output} > {log} 2>&1"
