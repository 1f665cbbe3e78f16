rule wlmd_segment:
    """E epochs of one group of walkers (with windows: one window, after replica exchanges with
    its partner window), from the previous segment's merged landscape and state."""
    input:
        unpack(lambda w: landscape_of(w).segment_inputs(int(w.seg), int(w.group))),
    output:
        state=paths.SEGMENT_STATE,
        entropy=paths.SEGMENT_ENTROPY,
    log:
        "logs/wlmd/{landscape}/seg{seg}_group{group}.log",
    benchmark:
        "benchmarks/wlmd/{landscape}/seg{seg}_group{group}.tsv"
    # a landscape is a chain of segments and merges, the longest path of the DAG: among ready
    # jobs its links go first, and the independent training runs fill the cores around them
    priority: 10
    conda:
        "../../envs/grokglass.yaml"
    threads: 1
    resources:
        gpu=1,
        mem_mb=8000,
        runtime=240,
    params:
        spec=segment_job_json,
        prev=segment_prev_args,
        device=DEVICE,
        precision=MATMUL_PRECISION,
        capture=EPOCH_CAPTURE,
    shell:
        "python -m grokglass wlmd-segment --spec-json {params.spec} --segment {wildcards.seg}"
        " --group {wildcards.group} {params.prev} --out-state {output.state}"
        " --out-entropy {output.entropy} --device {params.device} --matmul-precision {params.precision} --capture {params.capture}"
        " --threads {threads} > {log} 2>&1"


rule wlmd_merge:
    """Mean of all walkers' entropies of one segment (the paper's average; with share sum, the
    summed map; with windows, the windows' maps stitched), summed histograms."""
    input:
        unpack(lambda w: landscape_of(w).merge_inputs(int(w.seg))),
    output:
        paths.MERGED,
    log:
        "logs/wlmd/{landscape}/seg{seg}_merge.log",
    priority: 10
    localrule: True
    conda:
        "../../envs/grokglass.yaml"
    params:
        spec=segment_job_json,
        prev=merge_prev_args,
    shell:
        "python -m grokglass wlmd-merge --spec-json {params.spec} --segment {wildcards.seg}"
        " --inputs {input.groups} {params.prev} --out {output} > {log} 2>&1"


rule wlmd_landscape:
    """The final landscape: the last segment's merged entropy, min-shifted, unvisited bins NaN."""
    input:
        lambda wildcards: landscape_of(wildcards).final_merged_path,
    output:
        paths.LANDSCAPE,
    log:
        "logs/wlmd/{landscape}/landscape.log",
    localrule: True
    conda:
        "../../envs/grokglass.yaml"
    params:
        spec=lambda wildcards: quoted_json(landscape_of(wildcards)),
    shell:
        "python -m grokglass wlmd-landscape --spec-json {params.spec} --merged {input}" " --out {output} > {log} 2>&1"
