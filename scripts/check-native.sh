#!/usr/bin/env bash
# Checks that every native library Edge loads from a build or bundle folder finds all its dependencies on this
# machine (ldd), before the first Cv2/ONNX Runtime/libtorch call would fail with a stack trace.
# Usage: scripts/check-native.sh DIR [DIR...]   (a build output such as Host/bin/Release/net10.0, or a bundle)
# Prints one line per missing library, naming the Debian package that provides it, and exits 1; silent otherwise
# except for a one-line summary.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
table=$here/native-packages.tsv

# Loaded only on demand, never by Edge: libtorch's test and Python bindings; the CUDA/TensorRT providers are checked
# by the CUDA session itself (it falls back to the CPU with one line when CUDA cannot load).
skip='^(libjitbackend_test|libtorchbind_test|libaoti_custom_ops|libbackend_with_compiler|libnnapi_backend|libtorch_python|libonnxruntime_providers_(cuda|tensorrt))\.so'

package_for() {
  awk -F'\t' -v lib="$1" '!/^#/ && $1 == lib { print $2; exit }' "$table" 2>/dev/null
}

missing=0 checked=0
declare -A reported=()
packages=()
for dir in "$@"; do
  [[ -d $dir ]] || { echo "check-native: no such folder: $dir" >&2; exit 2; }
  # A framework-dependent build keeps natives under runtimes/linux-x64/native; a self-contained bundle at its top.
  while IFS= read -r lib; do
    name=$(basename "$lib")
    [[ $name =~ $skip ]] && continue
    checked=$((checked + 1))
    # ld.so resolves the library's own folder through its RUNPATH ($ORIGIN) where it has one; add the folder for
    # those without, as .NET's loader does when it loads them by full path.
    out=$(LD_LIBRARY_PATH="$(dirname "$lib")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" ldd "$lib" 2>&1 || true)
    while IFS= read -r need; do
      [[ -n $need ]] || continue
      [[ -n ${reported[$need]:-} ]] && continue
      reported[$need]=1
      pkg=$(package_for "$need")
      echo "check-native: $need (needed by $name) is missing: install the Debian package ${pkg:-that provides it (apt-file search $need)}" >&2
      [[ -n $pkg && ! " ${packages[*]} " =~ " $pkg " ]] && packages+=("$pkg")
      missing=$((missing + 1))
    done < <(sed -nE 's/^[[:space:]]+([^[:space:]]+) => not found.*/\1/p' <<<"$out")
    # A required (not weak) symbol version this system's library lacks also stops the load.
    if grep -E "version \`[^']+' not found" <<<"$out" | grep -vq 'weak version'; then
      echo "check-native: $name needs a newer system library than this machine has: $(grep -E "version \`" <<<"$out" | grep -v 'weak version' | head -1 | sed 's/^[^:]*: //')" >&2
      missing=$((missing + 1))
    fi
  done < <(find "$dir" -maxdepth 1 -name '*.so*' -type f; [[ -d $dir/runtimes/linux-x64/native ]] && find "$dir/runtimes/linux-x64/native" -name '*.so*' -type f)
done
if (( missing > 0 )); then
  (( ${#packages[@]} > 0 )) && echo "check-native: $missing missing; install with: apt-get install -y --no-install-recommends ${packages[*]}" >&2
  exit 1
fi
echo "check-native: $checked native libraries load their dependencies"
