rule kozyrev:
    """Kozyrev's square law and Eyring law fitted to the grokking times of the `kozyrev` runs."""
    input:
        EXPERIMENT.kozyrev.inputs if EXPERIMENT.kozyrev else [],
    output:
        table=paths.KOZYREV_TABLE,
        fits=paths.KOZYREV_FITS,
        pdf=paths.figure_file(paths.KOZYREV_FIGURE, "pdf"),
        png=report(
            paths.figure_file(paths.KOZYREV_FIGURE, "png"),
            caption="../report/kozyrev.rst",
            category="Kozyrev",
        ),
    log:
        "logs/analysis/kozyrev.log",
    localrule: True
    conda:
        "../../envs/grokglass.yaml"
    params:
        args=lambda wildcards: kwargs_json(EXPERIMENT.kozyrev),
    shell:
        "(python -m grokglass kozyrev {input} --table {output.table} --fits {output.fits}"
        " && python -m grokglass figure kozyrev --args-json {params.args}) > {log} 2>&1"
