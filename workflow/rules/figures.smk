rule figure:
    """Figures 1-8 (and any extra split sweep) and the Ising figures, from this run's data."""
    input:
        lambda wildcards: FIGURES[wildcards.figure].inputs,
    output:
        pdf=paths.figure_file("{figure}", "pdf"),
        png=report(
            paths.figure_file("{figure}", "png"),
            caption="../report/figure.rst",
            category="Figures",
            labels={"figure": "{figure}"},
        ),
    log:
        "logs/figures/{figure}.log",
    localrule: True
    conda:
        "../../envs/grokglass.yaml"
    params:
        function=lambda wildcards: FIGURES[wildcards.figure].function,
        args=lambda wildcards: kwargs_json(FIGURES[wildcards.figure]),
    shell:
        "python -m grokglass figure {params.function} --args-json {params.args} > {log} 2>&1"


rule landscape_summary:
    """High-entropy advantage, barrier and continuity tests of every landscape (spec 5.12)."""
    input:
        EXPERIMENT.summary.inputs,
    output:
        report(paths.LANDSCAPE_SUMMARY, caption="../report/summary.rst", category="Landscape summary"),
    log:
        "logs/figures/landscape_summary.log",
    localrule: True
    conda:
        "../../envs/grokglass.yaml"
    params:
        args=kwargs_json(EXPERIMENT.summary),
    shell:
        "python -m grokglass figure landscape_summary --args-json {params.args} > {log} 2>&1"


rule convergence:
    """Entropy change between segments and histogram flatness vs epochs, per landscape."""
    input:
        lambda wildcards: EXPERIMENT.convergence[wildcards.landscape].inputs,
    output:
        pdf=paths.figure_file(paths.CONVERGENCE_FIGURE, "pdf"),
        png=report(
            paths.figure_file(paths.CONVERGENCE_FIGURE, "png"),
            caption="../report/convergence.rst",
            category="Convergence",
            labels={"landscape": "{landscape}"},
        ),
    log:
        "logs/figures/convergence_{landscape}.log",
    localrule: True
    conda:
        "../../envs/grokglass.yaml"
    params:
        args=lambda wildcards: kwargs_json(EXPERIMENT.convergence[wildcards.landscape]),
    shell:
        "python -m grokglass figure convergence --args-json {params.args} > {log} 2>&1"
