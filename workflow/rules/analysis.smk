rule kozyrev:
    """Kozyrev's square law and Eyring law fitted to the grokking times of the `kozyrev` runs."""
    input:
        kozyrev_metrics,
    output:
        table="results/kozyrev/runs.csv",
        fits="results/kozyrev/fits.json",
        pdf="results/figures/kozyrev.pdf",
        png=report(
            "results/figures/kozyrev.png",
            caption="../report/kozyrev.rst",
            category="Kozyrev",
        ),
    log:
        "logs/analysis/kozyrev.log",
    params:
        args=lambda wildcards, input: as_json(
            {"metrics_paths": list(input), "out_prefix": "results/figures/kozyrev"}
        ),
    localrule: True
    conda:
        "../../envs/grokglass.yaml"
    shell:
        "(python -m grokglass kozyrev {input} --table {output.table} --fits {output.fits}"
        " && python -m grokglass figure kozyrev --args-json {params.args}) > {log} 2>&1"
