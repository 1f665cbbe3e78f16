"""The pipeline: the validated config (config, its JSON schema as package data), the typed
specs built once from it (specs), where results go (grokglass.paths) and the experiment that
holds them all (experiment).
"""
