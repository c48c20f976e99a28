#!/usr/bin/env bash
# The GPU benchmarks in one prepared run, for a machine lent for a few minutes (no .NET, no internet there).
#
# Usage:
#   scripts/bench-gpu.sh pack [cuda|cpu]   here: publish the serving bundle (scripts/publish.sh, default cuda) with
#                                          data/vtest.avi, compress it and split it into pieces of 48 MiB in .gpu/
#                                          (each piece fits one call to the device machine), with SHA256SUMS
#   scripts/bench-gpu.sh run [cuda|cpu]    there, from the repository copy: join the pieces (from .gpu/, or from
#                                          GPU_PIECES, a folder where earlier calls left them), check the hashes,
#                                          unpack, and run in one go:
#                                            1. inference-only and end-to-end fps by batch (BATCHES, default 1 8 32 64),
#                                               each against decode-only on the same frames (the fp16 copy of the frame
#                                               model on CUDA, as served), and the largest batch again with fp32;
#                                            2. N streams at once on the shared CNN (STREAMS, default 4 16 64), batches
#                                               up to MAX_BATCH (default 64): aggregate fps / best inference-only fps;
#                                            3. capacity: the most 10 fps live streams with p99 frame age <= 1 s and no
#                                               drops, CAPACITY_SECONDS a step (default 10; 0 skips it);
#                                          then print one table. Logs and JSON go to OUT_DIR (default $OUT, else
#                                          out/bench-gpu). FRAMES (default 640) frames of vtest.avi per measurement.
# The same `run cpu` on a CPU machine checks the script end to end before GPU time is spent on it.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { sed -n '4,20p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
mode=${1:-}
flavor=${2:-cuda}
case $flavor in cuda | cpu) ;; *) echo "bench-gpu: unknown flavour '$flavor' (cuda or cpu)" >&2; usage ;; esac
pieces=.gpu
bundle=edge-bench-$flavor

pack() {
  NO_TAR=1 scripts/publish.sh "$flavor" "out/$bundle"
  mkdir -p "out/$bundle/data"
  cp data/vtest.avi "out/$bundle/data/vtest.avi"
  rm -rf "$pieces"
  mkdir -p "$pieces"
  grep -qx "/$pieces/" .git/info/exclude 2>/dev/null || echo "/$pieces/" >> .git/info/exclude
  echo "bench-gpu: compressing out/$bundle (xz; the CUDA provider library alone is 284 MB)"
  tar -C out --sort=name --owner=0 --group=0 --numeric-owner -cf - "$bundle" | xz -T0 -6 > "$pieces/$bundle.tar.xz"
  (cd "$pieces" && split -b 48M -d "$bundle.tar.xz" "$bundle.tar.xz.part-" && rm "$bundle.tar.xz" && sha256sum "$bundle".tar.xz.part-* > SHA256SUMS)
  ls -l "$pieces"
  echo "bench-gpu: $(ls "$pieces" | grep -c part-) pieces in $pieces/; on the device machine, carry one piece a call into a folder that"
  echo "  persists (GPU_PIECES, e.g. /root/gp), then: GPU_PIECES=/root/gp scripts/bench-gpu.sh run $flavor"
}

run() {
  local from=${GPU_PIECES:-$pieces}
  local work=${GPU_WORK:-/tmp/edge-bench-gpu}
  local out=${OUT_DIR:-${OUT:-out/bench-gpu}}
  mkdir -p "$out"
  out=$(cd "$out" && pwd)
  if [[ ! -x $work/$bundle/edge ]]; then
    [[ -s $from/SHA256SUMS ]] || { echo "bench-gpu: no pieces in $from (run: scripts/bench-gpu.sh pack $flavor)" >&2; exit 1; }
    (cd "$from" && sha256sum -c --quiet SHA256SUMS) || { echo "bench-gpu: a piece in $from is damaged or missing" >&2; exit 1; }
    rm -rf "$work"
    mkdir -p "$work"
    cat "$from/$bundle".tar.xz.part-* | xz -d | tar -C "$work" -xf -
  fi
  local edge=$work/$bundle/edge
  local video=$work/$bundle/data/vtest.avi
  # The CUDA libraries of the lent machine (shared/GPU.md); harmless where they are absent.
  local nvidia=/opt/torch/.venv/lib/python3.12/site-packages/nvidia
  export LD_LIBRARY_PATH=$work/$bundle:$nvidia/cu13/lib:$nvidia/cudnn/lib:/usr/local/nvidia/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  local frames=${FRAMES:-640}
  local common=(--provider "$flavor" --frames "$frames")
  cd "$work/$bundle"
  for b in ${BATCHES:-1 8 32 64}; do
    echo "bench-gpu: batch $b"
    "$edge" bench "$video" "${common[@]}" --batch "$b" --json "$out/batch-$b.json" >"$out/batch-$b.log" 2>&1 \
      || { tail -5 "$out/batch-$b.log" >&2; exit 1; }
  done
  # The same largest batch with the fp32 model, beside the fp16 copy that CUDA serves by default (Models:FramePrecision Auto).
  local largest
  largest=$(echo ${BATCHES:-1 8 32 64} | tr ' ' '\n' | sort -n | tail -1)
  echo "bench-gpu: batch $largest, fp32"
  EDGE_Models__FramePrecision=Fp32 "$edge" bench "$video" "${common[@]}" --batch "$largest" --json "$out/fp32-batch-$largest.json" \
    >"$out/fp32-batch-$largest.log" 2>&1 || { tail -5 "$out/fp32-batch-$largest.log" >&2; exit 1; }
  for n in ${STREAMS:-4 16 64}; do
    echo "bench-gpu: $n streams"
    EDGE_Service__MaxBatch=${MAX_BATCH:-64} "$edge" bench "$video" "${common[@]}" --batch 8 --streams "$n" --json "$out/streams-$n.json" \
      >"$out/streams-$n.log" 2>&1 || { tail -5 "$out/streams-$n.log" >&2; exit 1; }
  done
  if (( ${CAPACITY_SECONDS:-10} > 0 )); then
    echo "bench-gpu: capacity, ${CAPACITY_SECONDS:-10} s a step"
    EDGE_Service__MaxBatch=${MAX_BATCH:-64} "$edge" bench "$video" "${common[@]}" --batch 8 --capacity "${CAPACITY_SECONDS:-10}" \
      --json "$out/capacity.json" >"$out/capacity.log" 2>&1 || { tail -5 "$out/capacity.log" >&2; exit 1; }
  fi
  python3 - "$out" <<'PY'
import glob, json, os, sys
out = sys.argv[1]
def load(name):
    with open(os.path.join(out, name)) as f:
        return json.load(f)
batches = sorted((load(os.path.basename(p)) for p in glob.glob(os.path.join(out, "batch-*.json"))), key=lambda r: r["BatchSize"])
best = max(r["InferenceFps"] for r in batches)
first = batches[0]
print(f"\n{first['Provider']}, {first['Threads']} CPU threads for the CNN, {first['Frames']} frames of vtest.avi (768x576) a measurement")
print("| measure | decode-only fps | inference-only fps | end-to-end fps | end-to-end / min(decode, inference) |")
print("|---|---|---|---|---|")
for r in batches:
    print(f"| batch {r['BatchSize']} | {r['DecodeFps']:,.0f} | {r['InferenceFps']:,.0f} | {r['EndToEndFps']:,.0f} | {r['Ratio']:.2f} |")
for p in glob.glob(os.path.join(out, "fp32-batch-*.json")):
    r = load(os.path.basename(p))
    print(f"| batch {r['BatchSize']}, fp32 model | {r['DecodeFps']:,.0f} | {r['InferenceFps']:,.0f} | {r['EndToEndFps']:,.0f} | {r['Ratio']:.2f} |")
streams = sorted((load(os.path.basename(p)) for p in glob.glob(os.path.join(out, "streams-*.json"))), key=lambda r: r["streams"]["count"])
if streams:
    print("\n| streams at once (shared CNN) | batches up to | frames a CNN call | aggregate fps | per stream fps | aggregate / best inference-only |")
    print("|---|---|---|---|---|---|")
    for r in streams:
        s = r["streams"]
        print(f"| {s['count']} | {s['MaxBatch']} | {s['FramesPerCall']:.1f} | {s['AggregateFps']:,.0f} | {min(s['PerStreamFps']):,.1f}-{max(s['PerStreamFps']):,.1f} | {s['AggregateFps'] / best:.2f} |")
if os.path.exists(os.path.join(out, "capacity.json")):
    c = load("capacity.json")["capacity"]
    steps = ", ".join(f"{st['Streams']} {'hold' if st['Holds'] else 'do not'} ({st['WorstAgeP99Ms']:.0f} ms p99, {st['Dropped']} dropped)" for st in c["Steps"])
    print(f"\ncapacity: {c['Streams']} live streams at {c['StreamFps']:g} fps (p99 frame age <= {c['MaxAgeMs']:.0f} ms, no drops; {c['SecondsPerStep']} s a step: {steps})")
print(f"best inference-only: {best:,.0f} frames/s")
PY
}

case $mode in
  pack) pack ;;
  run) run ;;
  *) usage ;;
esac
