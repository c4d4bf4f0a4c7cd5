#!/usr/bin/env bash
# One-shot GPU throughput: bert-base and electra-base pretraining steps at seq 128 and 512 in
# bfloat16, MFU against the bf16 matmul peak measured in the same run; then bert-base at 512
# with cuDNN fused attention (attention dropout off, which fused kernels cannot do) and with
# remat. Needs an NVIDIA GPU and jax with CUDA (e.g. pip install -e . "jax[cuda12]").
# Budget: each run is capped at 75 s; all of it stays under 8 minutes.
#
#   bash benchmarks/gpu.sh [OUT_DIR]
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:-runs/gpu_bench}
mkdir -p "$out"
python -c "import jax; d = jax.devices()[0]; assert d.platform == 'gpu', d; print(d.device_kind)" || exit 1
bench() {  # name preset seq batch [extra args]
  local name=$1 preset=$2 seq=$3 batch=$4; shift 4
  timeout 75 python benchmarks/throughput.py --preset "$preset" --batch "$batch" --seq "$seq" \
    --dtype bfloat16 --steps 10 --warmup 3 --peak-size 8192 --json "$out/$name.json" "$@" \
    | tail -n 2 || echo "$name: failed or over time (see above)"
}
for preset in bert-base electra-base; do
  bench "${preset}_128" "$preset" 128 128
  bench "${preset}_512" "$preset" 512 32
done
bench bert-base_512_cudnn bert-base 512 32 --set attention_dropout=0 --set attention_impl=cudnn
bench bert-base_512_remat bert-base 512 32 --set remat=true
python - "$out" <<'PY'
import json, pathlib, sys
rows = [(p.stem, json.loads(p.read_text())) for p in sorted(pathlib.Path(sys.argv[1]).glob("*.json"))]
print(f"{'run':<24}{'seq':>5}{'batch':>7}{'tokens/s':>12}{'step ms':>9}{'MFU':>7}{'peak TFLOP/s':>14}")
for name, r in rows:
  print(f"{name:<24}{r['seq']:>5}{r['batch']:>7}{r['tokens_per_s']:>12.0f}"
        f"{r['step_ms']:>9.1f}{100 * r['mfu']:>6.1f}%{r['matmul_peak_flops'] / 1e12:>14.0f}")
PY
