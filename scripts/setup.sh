#!/usr/bin/env bash
# Everything Edge needs on a fresh Debian 12 machine that has the .NET 10 SDK: Debian packages, the sample footage
# (Debian's opencv-doc), a Release build (NuGet restore brings OpenCV, ONNX Runtime and the ResNet18 featurizer), the
# prepared frame model and the default object head (trained on a crop set from vtest.avi, data/objects). Idempotent: a
# second run installs, downloads and trains nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

# libgtk-3-0, libatomic1: OpenCV's native library links them (a bare Debian 12 lacks libatomic1; scripts/check-native.sh
# checks every native library of the build after it). ffmpeg: cuts the short test clip, decodes network streams.
# python3-onnx: onnx.checker for exported models. libonnx-testdata: the ONNX project's reference node models.
# dataset-fashion-mnist: the Fashion-MNIST benchmark for `edge train cnn`. mosquitto: the MQTT broker the delivery
# tests start (they run it themselves; the packaged service is not needed). prometheus: its promtool checks the
# /metrics text. chromium: the headless browser that renders the dashboard in the web tests. python3-gi,
# gir1.2-gst-rtsp-server-1.0 and the GStreamer plugins (JPEG decode, x264 encode, RTP payloading): the RTSP server the
# capture tests start and kill. binutils (readelf, strip), lintian and systemd (systemd-analyze): scripts/publish.sh and
# scripts/package.sh make the serving bundle and the Debian package, and the tests check them (nothing is started).
packages=(libgtk-3-0 libatomic1 ffmpeg python3-onnx libonnx-testdata dataset-fashion-mnist mosquitto prometheus chromium
  python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly
  binutils lintian systemd)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
sudo=()
(( EUID == 0 )) || sudo=(sudo)
apt_updated=0
apt_update() {
  if (( apt_updated == 0 )); then
    echo "setup: apt-get update"
    "${sudo[@]}" apt-get update -qq
    apt_updated=1
  fi
}
if (( ${#missing[@]} > 0 )); then
  apt_update
  echo "setup: installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The sample footage comes from `apt-get download opencv-doc`, which needs package lists.
if [[ ! -s data/vtest.avi || ! -s data/vtest-50.avi || ! -s data/box.mp4 || ! -s data/cup.mp4 ]]; then
  apt-cache show opencv-doc >/dev/null 2>&1 || apt_update
fi
scripts/fetch-data.sh

echo "setup: building (Release)"
dotnet build Edge.sln -c Release -nologo -v quiet -clp:ErrorsOnly "$@"
# Every native library of the output must find its dependencies now, not at its first use in a test or a run.
scripts/check-native.sh Host/bin/Release/net10.0
Host/bin/Release/net10.0/edge models prepare
