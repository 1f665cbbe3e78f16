rule wlmd_segment:
    """E epochs of one group of walkers, from the previous segment's merged landscape and state."""
    input:
        unpack(segment_inputs),
    output:
        state="results/wlmd/{landscape}/seg{seg}/group{group}.pt",
        entropy="results/wlmd/{landscape}/seg{seg}/group{group}.h5",
    log:
        "logs/wlmd/{landscape}/seg{seg}_group{group}.log",
    benchmark:
        "benchmarks/wlmd/{landscape}/seg{seg}_group{group}.tsv"
    params:
        spec=landscape_json,
        prev=segment_prev_args,
        device=DEVICE,
    threads: 1
    resources:
        gpu=1,
        mem_mb=8000,
        runtime=240,
    conda:
        "../../envs/grokglass.yaml"
    shell:
        "python -m grokglass wlmd-segment --spec-json {params.spec} --segment {wildcards.seg}"
        " --group {wildcards.group} {params.prev} --out-state {output.state}"
        " --out-entropy {output.entropy} --device {params.device} --threads {threads}"
        " > {log} 2>&1"


rule wlmd_merge:
    """Mean of all walkers' entropies of one segment (the paper's average), summed histograms."""
    input:
        unpack(merge_inputs),
    output:
        "results/wlmd/{landscape}/seg{seg}/merged.h5",
    log:
        "logs/wlmd/{landscape}/seg{seg}_merge.log",
    params:
        spec=landscape_json,
        prev=merge_prev_args,
    localrule: True
    conda:
        "../../envs/grokglass.yaml"
    shell:
        "python -m grokglass wlmd-merge --spec-json {params.spec} --segment {wildcards.seg}"
        " --inputs {input.groups} {params.prev} --out {output} > {log} 2>&1"


rule wlmd_landscape:
    """The final landscape: the last segment's merged entropy, min-shifted, unvisited bins NaN."""
    input:
        final_merged,
    output:
        "results/wlmd/{landscape}/landscape.h5",
    log:
        "logs/wlmd/{landscape}/landscape.log",
    params:
        spec=landscape_json,
    localrule: True
    conda:
        "../../envs/grokglass.yaml"
    shell:
        "python -m grokglass wlmd-landscape --spec-json {params.spec} --merged {input}"
        " --out {output} > {log} 2>&1"
