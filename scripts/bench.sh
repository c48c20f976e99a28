#!/usr/bin/env bash
# Benchmarks on the sample footage, both measured in this one run:
#   1. edge bench: end-to-end fps / min(decode-only fps, inference-only fps) over the same frames;
#   2. Edge end-to-end fps / the fps of the loop a Python user would write instead (cv2.VideoCapture + cv2.dnn on
#      the same ResNet18 ONNX and video, scripts/peer_cv2dnn.py, Debian's python3-opencv), same thread count.
# FRAMES=N limits both to the first N frames (default: all 795 of vtest.avi).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null
if ! /usr/bin/python3 -c 'import cv2' 2>/dev/null; then
  echo "bench: installing python3-opencv for the peer loop"
  (( EUID == 0 )) || sudo=sudo
  ${sudo:-} apt-get update -qq
  DEBIAN_FRONTEND=noninteractive ${sudo:-} apt-get install -y -qq --no-install-recommends python3-opencv >/dev/null
fi

edge=Host/bin/Release/net10.0/edge
video=data/vtest.avi
frames=${FRAMES:-795}
threads=$(nproc)
mkdir -p out/bench

"$edge" bench "$video" --frames "$frames" --threads "$threads" --json out/bench/edge.json
/usr/bin/python3 scripts/peer_cv2dnn.py "$video" Host/bin/Release/net10.0/featurizer/ResNet18.onnx \
  --max-frames "$frames" --threads "$threads" > out/bench/peer.json

/usr/bin/python3 - <<'PY'
import json
edge = json.load(open("out/bench/edge.json"))
peer = json.loads(open("out/bench/peer.json").read().strip().splitlines()[-1])
print(f"peer (python3 cv2.VideoCapture + cv2.dnn, {peer['threads']} threads): {peer['frames']} frames at {peer['fps']:.1f} fps")
print(f"Edge end-to-end / peer = {edge['EndToEndFps']:.1f} / {peer['fps']:.1f} = {edge['EndToEndFps'] / peer['fps']:.2f}")
print(f"Edge end-to-end / min(decode-only, inference-only) = {edge['Ratio']:.2f}")
PY
