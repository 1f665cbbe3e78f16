"""Analyses of finished runs: milestones (memorisation, grokking), Kozyrev's grokking-time laws,
the layer analysis of the dense classifier.
"""
