"""The networks: Nanda's one-layer transformer (transformer), the Ising task's dense classifier
(dense), their typed specs (specs), the registry that builds one from its spec (registry), and
both as systems the WLMD sampler can explore (systems).
"""
