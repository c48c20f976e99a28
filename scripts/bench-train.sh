#!/usr/bin/env bash
# Training speed: the same CNN and GRU trained for N steps in TorchSharp (edge train bench) and in PyTorch (Debian's
# python3-torch, scripts/peer_torch_train.py), same threads, same batch, in one run; prints TorchSharp / PyTorch time.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null
if ! /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  echo "bench-train: installing python3-torch for the peer"
  (( EUID == 0 )) || sudo=sudo
  ${sudo:-} apt-get update -qq
  DEBIAN_FRONTEND=noninteractive ${sudo:-} apt-get install -y -qq --no-install-recommends python3-torch >/dev/null
fi
steps=${STEPS:-50}
threads=$(nproc)
mkdir -p out/bench
Host/bin/Release/net10.0/edge train bench --steps "$steps" --threads "$threads" --json out/bench/train-torchsharp.json
/usr/bin/python3 scripts/peer_torch_train.py --steps "$steps" --threads "$threads" > out/bench/train-pytorch.json
/usr/bin/python3 - <<'PY'
import json
ts = json.load(open("out/bench/train-torchsharp.json"))
pt = json.loads(open("out/bench/train-pytorch.json").read().strip().splitlines()[-1])
print(f"PyTorch {pt['torch']}: cnn {pt['cnn']:.3f} s, gru {pt['gru']:.3f} s ({pt['steps']} steps, {pt['threads']} threads)")
for model in ("cnn", "gru"):
    print(f"{model}: TorchSharp / PyTorch time = {ts[model]:.3f} / {pt[model]:.3f} = {ts[model] / pt[model]:.2f}")
PY
