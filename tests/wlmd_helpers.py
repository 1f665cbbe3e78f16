"""Shared by the WLMD tests: simulate one walker inside different groups of walkers."""

from grokglass.wlmd.grid import EntropyGrid
from grokglass.wlmd.sampler import init_walkers, run_epochs

GROUPS = ([1], [0, 1], [1, 2, 3])


def walker_in_groups(system, grid_spec, settings, walker=1, groups=GROUPS, epochs=12, seed=9):
    """For each group: walker `walker`'s (params, velocity, learned entropy, histogram) after
    `epochs` epochs simulated together with the group's other walkers."""
    runs = {}
    for ids in groups:
        state = init_walkers(system, list(ids), seed, settings)
        grid = EntropyGrid(grid_spec, len(ids))
        run_epochs(system, grid, state, settings, epochs)
        k = ids.index(walker)
        runs[tuple(ids)] = (state.params[k], state.velocity[k], grid.learned()[k], grid.histogram[k])
    return runs
