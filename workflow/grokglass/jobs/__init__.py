"""The pipeline's WLMD jobs: what the `wlmd_segment`, `wlmd_merge` and `wlmd_landscape` rules run.

They read a landscape's typed spec (grokglass.pipeline.specs.LandscapeSpec) and drive the sampler library
(grokglass.wlmd), which knows nothing of the pipeline:

    segment     one segment of one group of walkers (Wang-Landau, or restrained windows)
    merge       a segment's groups merged into one map; the final landscape.h5
    restrained  the lattice of restrained windows: its segments, measurements and integration
    args        the jobs' shared command-line arguments, state files and provenance
"""
