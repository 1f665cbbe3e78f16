"""Tools around the pipeline: speed benchmarks (bench), the convergence benchmark of the
samplers (convergence_bench), and the GPU check (device_check).
"""
