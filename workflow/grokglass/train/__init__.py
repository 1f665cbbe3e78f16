"""Training: the loop (loop) and the optimizers (optim: fixed-norm AdamW, WanD, the hybrid, SGLD)."""
