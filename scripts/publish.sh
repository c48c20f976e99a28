#!/usr/bin/env bash
# A self-contained serving bundle of Edge for linux-x64: the `edge` executable with the .NET runtime inside (no .NET
# SDK or runtime needed where it runs), the serving verbs only (process, run, bench, models: no Training, so neither
# TorchSharp nor libtorch), the prepared frame model and the default object head, the default configuration, and
# check-native.sh with its table of Debian packages. Written as a folder and as a .tar.gz of that folder.
#
# Usage: scripts/publish.sh [cpu|cuda] [OUT]
#   cpu   (default) the CPU ONNX Runtime (Microsoft.ML.OnnxRuntime)
#   cuda  the GPU ONNX Runtime (Microsoft.ML.OnnxRuntime.Gpu.Linux: CUDA 13 + cuDNN 9 on the library path); without
#         them it runs on the CPU and says so in one line
#   OUT   the bundle folder (default out/edge-VERSION-linux-x64-FLAVOR); OUT.tar.gz beside it
# Needs: the .NET SDK, and models/ prepared by scripts/setup.sh. NO_TAR=1 skips the .tar.gz.
# The build has its own artifacts folder (out/.publish/FLAVOR), so it never touches the normal build's bin/ and obj/.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { sed -n '7,13p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
flavor=${1:-cpu}
case $flavor in
  cpu) ort=Cpu ;;
  cuda) ort=Gpu ;;
  -h | --help) usage ;;
  *) echo "publish: unknown flavour '$flavor' (cpu or cuda)" >&2; usage ;;
esac
version=$(scripts/version.sh)
out=${2:-out/edge-$version-linux-x64-$flavor}
out=${out%/}
stage=out/.publish/$flavor

# What serving loads from models/: the frame model (and its fp16 copy, which CUDA serves) and the object heads (over grid regions, the default, and over
# crop embeddings), each with its manifest.
models=(resnet18-frame.onnx resnet18-frame.json resnet18-frame-fp16.onnx resnet18-frame-fp16.json objects-grid-head.onnx objects-grid-head.json objects-head.onnx objects-head.json)
for m in "${models[@]}"; do
  [[ -s models/$m ]] || { echo "publish: models/$m is missing: run scripts/setup.sh first (it prepares the models)" >&2; exit 1; }
done

echo "publish: building the $flavor serving bundle $version (dotnet publish, self-contained linux-x64)"
rm -rf "$stage/publish"
dotnet publish Host/Host.csproj -c Release -r linux-x64 --self-contained true \
  -p:EdgeServing=true -p:OrtFlavor="$ort" \
  -p:SatelliteResourceLanguages=en -p:CopyOutputSymbolsToPublishDirectory=false \
  --artifacts-path "$stage/artifacts" -o "$stage/publish" -nologo -v quiet -clp:ErrorsOnly

rm -rf "$out" "$out.tar.gz"
mkdir -p "$out"
cp -a "$stage/publish/." "$out/"

# Trimmed: what serving never loads.
#  featurizer/        the raw ResNet18 files `edge models prepare` builds the frame model from; the bundle carries the
#                     prepared model instead (64 MB)
#  createdump, libmscordaccore.so, libmscordbi.so
#                     crash dumps and the managed debugger's data access; nothing in a running service uses them
#  libclrgc*.so       the runtime's alternative garbage collectors, loaded only when DOTNET_GCName asks for one
#  libcoreclrtraceptprovider.so
#                     LTTng tracing; it needs liblttng-ust, which Debian does not install, and the runtime goes on
#                     silently without it
#  libonnxruntime_providers_tensorrt.so
#                     (cuda) TensorRT, which Edge never asks for
rm -rf "$out/featurizer" "$out/createdump" "$out/libmscordaccore.so" "$out/libmscordbi.so" \
  "$out"/libclrgc*.so "$out/libcoreclrtraceptprovider.so" "$out/libonnxruntime_providers_tensorrt.so"
find "$out" -name '*.pdb' -delete
# Everything a full build adds for training must be absent: the split keeps it out; this says so if it ever leaks in.
leaked=$(find "$out" -iname '*torch*' -o -iname 'Edge.Training.dll' -o -iname 'ScottPlot*' | head -3 || true)
if [[ -n $leaked ]]; then
  echo "publish: training files leaked into the serving bundle: $leaked" >&2
  exit 1
fi
# OpenCV's and SQLite's natives ship with their symbol tables (11 MB); the dynamic symbols they export stay.
if command -v strip >/dev/null && command -v readelf >/dev/null; then
  for lib in "$out"/*.so; do
    # (readelf's whole output, not a pipe into grep -q: that can end readelf early and fail under pipefail)
    sections=$(readelf -S --wide "$lib")
    if [[ $sections == *' .symtab '* ]]; then
      strip --strip-unneeded "$lib"
    fi
  done
else
  echo "publish: strip not found (Debian: binutils): the native libraries keep their symbol tables"
fi

mkdir -p "$out/models"
for m in "${models[@]}"; do
  cp "models/$m" "$out/models/$m"
done
# config/edge.json and native-packages.tsv are in the publish output already (Host.csproj copies them); the checker
# reads the table beside itself.
cp scripts/check-native.sh "$out/check-native.sh"
[[ -s $out/config/edge.json && -s $out/native-packages.tsv ]] || { echo "publish: config/edge.json or native-packages.tsv missing from $out" >&2; exit 1; }

# The bundle starts without an SDK: its own runtime answers.
"$out/edge" --version >/dev/null
# Whether this machine could run it (a note here, not a failure: the bundle is meant for other machines).
"$out/check-native.sh" "$out" || echo "publish: this machine lacks the libraries above; the bundle itself is complete"

files=$(find "$out" -type f | wc -l)
size=$(du -sb "$out" | cut -f1)
echo "publish: $out: $((size / 1000000)) MB in $files files"
if [[ ${NO_TAR:-0} != 1 ]]; then
  compress=gzip
  command -v pigz >/dev/null && compress=pigz
  tar -C "$(dirname "$out")" --sort=name --owner=0 --group=0 --numeric-owner -I "$compress" \
    -cf "$out.tar.gz" "$(basename "$out")"
  echo "publish: $out.tar.gz: $(($(stat -c %s "$out.tar.gz") / 1000000)) MB"
fi
