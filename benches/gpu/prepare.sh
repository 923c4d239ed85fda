#!/usr/bin/env bash
# Packs what a lent GPU machine needs into .gpu/ (ignored by git; carry it with the device tool):
# stripped, xz-compressed release binaries (medvlm, the model and GRPO benches), the Vulkan loader
# debs, the sample project, the tiny checkpoint and the Python baselines. Run from the repository root.
set -euo pipefail
out=.gpu
mkdir -p "$out/gl" "$out/bin"
grep -qx '.gpu/' .git/info/exclude 2>/dev/null || echo '.gpu/' >> .git/info/exclude
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/medvlm-target}"
cargo build --release --locked
cargo bench --no-run --locked --bench model --bench grpo 2>&1 | tail -3
strip -o "$out/bin/medvlm" "$CARGO_TARGET_DIR/release/medvlm"
for b in model grpo; do
    f=$(ls -t "$CARGO_TARGET_DIR"/release/deps/"$b"-* | grep -v '\.d$' | head -1)
    strip -o "$out/bin/bench-$b" "$f"
done
xz -9 -f -T2 "$out"/bin/*
o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
mkdir -p /tmp/amd64/partial
apt-get $o update -qq
(cd "$out/gl" && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
du -sh "$out"
