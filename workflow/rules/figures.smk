rule figure:
    """Figures 1-8 of the paper (and any extra split sweep), from this run's data."""
    input:
        figure_input_files,
    output:
        pdf="results/figures/{figure}.pdf",
        png=report(
            "results/figures/{figure}.png",
            caption="../report/figure.rst",
            category="Figures",
            labels={"figure": "{figure}"},
        ),
    log:
        "logs/figures/{figure}.log",
    params:
        function=lambda wildcards: figure_function(wildcards.figure),
        args=figure_args_json,
    localrule: True
    conda:
        "../../envs/grokglass.yaml"
    shell:
        "python -m grokglass figure {params.function} --args-json {params.args} > {log} 2>&1"


rule landscape_summary:
    """High-entropy advantage, barrier and continuity tests of every landscape (spec 5.12)."""
    input:
        summary_input_files,
    output:
        "results/figures/landscape_summary.csv",
    log:
        "logs/figures/landscape_summary.log",
    params:
        args=summary_args_json,
    localrule: True
    conda:
        "../../envs/grokglass.yaml"
    shell:
        "python -m grokglass figure landscape_summary --args-json {params.args} > {log} 2>&1"


rule convergence:
    """Entropy change between segments and histogram flatness vs epochs, per landscape."""
    input:
        "results/wlmd/{landscape}/landscape.h5",
    output:
        pdf="results/figures/convergence_{landscape}.pdf",
        png=report(
            "results/figures/convergence_{landscape}.png",
            caption="../report/convergence.rst",
            category="Convergence",
            labels={"landscape": "{landscape}"},
        ),
    log:
        "logs/figures/convergence_{landscape}.log",
    params:
        args=lambda wildcards: as_json(
            {
                "landscape_path": f"results/wlmd/{wildcards.landscape}/landscape.h5",
                "out_prefix": f"results/figures/convergence_{wildcards.landscape}",
            }
        ),
    localrule: True
    conda:
        "../../envs/grokglass.yaml"
    shell:
        "python -m grokglass figure convergence --args-json {params.args} > {log} 2>&1"
