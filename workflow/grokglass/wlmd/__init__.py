"""Wang-Landau molecular dynamics: the entropy grid, the batched sampler, segments and merge."""
