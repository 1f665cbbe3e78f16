"""grokglass: reproduce 'Is Grokking a Computational Glass Relaxation?' (arXiv 2505.11411).

One module per concept: tasks (datasets), model (the one-layer transformer),
metrics, optim (WanD, hybrid, SGLD, fixed-norm AdamW), train (the loop),
wlmd (the Wang-Landau molecular dynamics sampler), figures, io (atomic files,
provenance), config (expanding config.yaml into runs and landscapes), cli.
"""

__version__ = "0.1.0"
