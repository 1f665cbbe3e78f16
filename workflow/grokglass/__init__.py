"""grokglass: reproduce 'Is Grokking a Computational Glass Relaxation?' (arXiv 2505.11411).

Folders by layer, each importing only the ones before it (README "Where the code is"):
base modules (errors, io, metrics, paths); wlmd (the entropy-landscape sampler library, which
knows nothing of the pipeline); data (the datasets); nets (the networks); pipeline (the
validated config and the typed specs of every experiment); train (the loop and optimizers);
analysis; jobs (what the WLMD rules run); figures; tools; cli.
"""

__version__ = "0.1.0"
