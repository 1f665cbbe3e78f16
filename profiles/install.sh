#!/usr/bin/env bash
# Make `snakemake --profile slurm` (and `--profile grokglass-local`) work from any directory:
# Snakemake looks profiles up by name in ~/.config/snakemake, not in ./profiles.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
target="${XDG_CONFIG_HOME:-$HOME/.config}/snakemake"
mkdir -p "$target"
ln -sfn "$here/slurm" "$target/slurm"
echo "linked $target/slurm -> $here/slurm"
