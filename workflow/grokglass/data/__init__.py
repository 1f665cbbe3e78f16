"""The datasets: modular-arithmetic expressions and tasks (expressions, arithmetic), the 2-D
Ising model's configurations (ising), and their typed specs (specs).
"""
