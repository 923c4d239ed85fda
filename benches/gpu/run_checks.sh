#!/usr/bin/env bash
# One time-boxed pass of the GPU checks on a lent machine (about 9 minutes; most important first).
# Run from the repository root with .gpu/ carried: bash benches/gpu/run_checks.sh
# Logs and the summary go to $OUT (the device tool brings them back).
set -uo pipefail
OUT="${OUT:-/tmp/gpu-out}"; mkdir -p "$OUT"
for f in .gpu/gl/*.deb; do dpkg -x "$f" /; done; ldconfig
export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
export MEDVLM_CACHE_DIR="$OUT/cache" XDG_RUNTIME_DIR=/tmp/xdg; mkdir -p /tmp/xdg
for f in .gpu/bin/*.xz; do python3 -c "import lzma,shutil,sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[1][:-3],'wb'))" "$f"; done
chmod +x .gpu/bin/*
T="python3 benches/gpu/timed.py"
B=.gpu/bin/medvlm
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$OUT/gpu.txt" 2>&1
# 1. GRPO on the GPU: tiny-demo, 40 steps (goal: under 60 s wall, kernel preparation included).
cp -r sample-data /tmp/sd
$T "$OUT/train_wgpu.log" 150 $B --backend wgpu train --project /tmp/sd/sample.medvlm --preset tiny-demo | tee -a "$OUT/summary.txt"
# 2. Generation (goal: >= 1,000 tokens/s warm): a cold run, then a warm one.
for run in cold warm; do
    $T "$OUT/generate_$run.log" 60 $B --backend wgpu generate --model sample --prompt "Is there a lesion in this image?" --max-new-tokens 256 | tee -a "$OUT/summary.txt"
done
# 3. The model bench against PyTorch CUDA eager (goal: within 2x).
BENCH_TORCH_DIR=benches/python $T "$OUT/bench_model.log" 240 .gpu/bin/bench-model --backend wgpu --quick --torch benches/python/bench_torch.py | tee -a "$OUT/summary.txt"
# 4. One GRPO step against TRL on CUDA (needs trl installed; the bench says so if not).
$T "$OUT/bench_grpo.log" 120 .gpu/bin/bench-grpo --backend wgpu --steps 5 --trl benches/python/bench_grpo_trl.py | tee -a "$OUT/summary.txt"
# 5. The lavapipe tests' claims on real hardware: kernel counts per step are in the run's metrics.
$B runs export --project /tmp/sd/sample.medvlm --run latest --format csv --out "$OUT/tiny_demo_wgpu.csv" 2>>"$OUT/summary.txt"
grep -h "tok/s\|tokens in\|prepared\|step   40\|ratio\||" "$OUT"/*.log > "$OUT/highlights.txt" 2>/dev/null
