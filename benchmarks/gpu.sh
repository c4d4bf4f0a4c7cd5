#!/usr/bin/env bash
# One-shot GPU throughput: bert-base and electra-base pretraining steps at seq 128 and 512 in
# bfloat16, MFU against the bf16 matmul peak measured in the same run. Needs an NVIDIA GPU and
# jax with CUDA (e.g. pip install -e . "jax[cuda12]"). About 5 minutes on one H100-class GPU.
#
#   bash benchmarks/gpu.sh [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-runs/gpu_bench}
mkdir -p "$out"
python -c "import jax; d = jax.devices()[0]; assert d.platform == 'gpu', d; print(d.device_kind)"
for preset in bert-base electra-base; do
  for seq in 128 512; do
    batch=$(( seq == 128 ? 128 : 32 ))
    timeout 170 python benchmarks/throughput.py --preset "$preset" --batch "$batch" --seq "$seq" \
      --dtype bfloat16 --steps 10 --warmup 3 --peak-size 8192 \
      --json "$out/${preset}_${seq}.json" | tail -n 3
  done
done
python - "$out" <<'PY'
import json, pathlib, sys
rows = [json.loads(p.read_text()) for p in sorted(pathlib.Path(sys.argv[1]).glob("*.json"))]
print(f"{'preset':<14}{'seq':>5}{'batch':>7}{'tokens/s':>12}{'step ms':>9}{'MFU':>7}{'peak TFLOP/s':>14}")
for r in rows:
  print(f"{r['preset']:<14}{r['seq']:>5}{r['batch']:>7}{r['tokens_per_s']:>12.0f}"
        f"{r['step_ms']:>9.1f}{100 * r['mfu']:>6.1f}%{r['matmul_peak_flops'] / 1e12:>14.0f}")
PY
