#!/usr/bin/env bash
# Installs PyTorch into the given Python environment before l2h itself, so that pip never resolves a bare
# "torch" requirement to the registry's newest multi-GB CUDA build on a machine without a GPU.
#   - torch already importable: nothing to do.
#   - an NVIDIA driver is present (nvidia-smi): the default build, which ships CUDA.
#   - otherwise: torch==2.13.0, which resolves to the local CPU wheel where pip is configured with one
#     (find-links); set L2H_TORCH_INDEX to a CPU wheel index (e.g. PyTorch's /whl/cpu) to force a CPU build elsewhere.
set -euo pipefail
python="${1:-python3}"
if "$python" -c "import torch" 2>/dev/null; then
    exit 0
fi
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi >/dev/null 2>&1; then
    "$python" -m pip install "torch>=2.2"
elif [ -n "${L2H_TORCH_INDEX:-}" ]; then
    "$python" -m pip install "torch==2.13.0" --index-url "$L2H_TORCH_INDEX"
else
    "$python" -m pip install "torch==2.13.0"
fi
