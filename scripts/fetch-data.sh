#!/usr/bin/env bash
# Fetch the real test videos into data/ (git-ignored).
#
#   data/vtest.avi     768x576, 10 fps, 795 frames, MS-MPEG4v3 (DIV3); fixed camera, pedestrians
#   data/vtest-50.avi  first 50 frames of vtest.avi, cut by ffmpeg stream copy (no re-encode:
#                      its frames decode bit-identical to vtest.avi's first 50)
#   data/box.mp4       640x480 H.264 + audio; container says 456 frames, only 455 decode (last one is broken)
#   data/cup.mp4       640x480 H.264 + audio; 217 frames, 26.777 fps
#
# Source: Debian package opencv-doc (Apache-2.0 / BSD), fetched with `apt-get download`.
# Requires: apt-get (with package lists: run `apt-get update` once), dpkg-deb, tar, gzip, ffmpeg, ffprobe.
# This script installs nothing. Idempotent: when all four files exist it prints one line and exits.
# Every file is written under a temporary name and renamed only when complete and checked,
# so an interrupted run never leaves a file that looks complete.
set -euo pipefail
cd "$(dirname "$0")/.."

FILES=(data/vtest.avi data/vtest-50.avi data/box.mp4 data/cup.mp4)

missing=()
for f in "${FILES[@]}"; do
  [[ -s $f ]] || missing+=("$f")
done
if (( ${#missing[@]} == 0 )); then
  echo "fetch-data: data/ is complete (vtest.avi vtest-50.avi box.mp4 cup.mp4)"
  exit 0
fi

for tool in apt-get dpkg-deb tar gzip ffmpeg ffprobe; do
  command -v "$tool" >/dev/null 2>&1 || {
    echo "fetch-data: '$tool' not found (Debian: apt-get install -y --no-install-recommends ffmpeg)" >&2
    exit 1
  }
done

mkdir -p data
# Staging dir inside data/ so the final mv is an atomic rename on the same filesystem.
stage=$(mktemp -d data/.fetch.XXXXXX)
trap 'rm -rf "$stage"' EXIT

need() { [[ ! -s $1 ]]; }

# Count video packets (container-level, no decoding) or decoded frames of the first video stream.
count_packets() { ffprobe -v error -select_streams v:0 -count_packets -show_entries stream=nb_read_packets -of csv=p=0 "$1"; }
count_frames()  { ffprobe -v error -select_streams v:0 -count_frames  -show_entries stream=nb_read_frames  -of csv=p=0 "$1"; }

check_sha() { # file expected-sha256: a mismatch is a warning (another Debian release may repackage)
  local got
  got=$(sha256sum "$1" | cut -d' ' -f1)
  [[ $got == "$2" ]] || echo "fetch-data: warning: $1 sha256 $got differs from the known $2 (opencv-doc 4.6.0+dfsg-12)" >&2
}

DOC=./usr/share/doc/opencv-doc
if need data/vtest.avi || need data/box.mp4 || need data/cup.mp4; then
  echo "fetch-data: downloading Debian opencv-doc (~96 MB) ..."
  apt_opts=()
  # As root apt drops to user _apt, which cannot write our private temp dir: it warns, then works.
  if (( EUID == 0 )); then apt_opts=(-o APT::Sandbox::User=root); fi
  (cd "$stage" && apt-get download -q "${apt_opts[@]}" opencv-doc >/dev/null)
  deb=$(ls "$stage"/opencv-doc_*.deb)
  dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$stage" \
    "$DOC/examples/data/vtest.avi" "$DOC/opencv4/html/box.mp4.gz" "$DOC/opencv4/html/cup.mp4.gz"
  rm -f "$deb"

  if need data/vtest.avi; then
    v="$stage/$DOC/examples/data/vtest.avi"
    n=$(count_packets "$v")
    [[ $n == 795 ]] || { echo "fetch-data: vtest.avi has $n video packets, expected 795" >&2; exit 1; }
    check_sha "$v" 45cddc9490be69345cbdab64ca583be65987e864ca408038e648db99e10516cf
    mv "$v" data/vtest.avi
  fi
  for name in box cup; do
    if need "data/$name.mp4"; then
      gzip -dc "$stage/$DOC/opencv4/html/$name.mp4.gz" > "$stage/$name.mp4"
      case $name in
        box) check_sha "$stage/$name.mp4" 62b744b99403f899707c43398a3822441add6160379ab6dd6c12bde9e3075f8d ;;
        cup) check_sha "$stage/$name.mp4" 37db9cee98f70b1458985a15ad2e5b0183e90e24c281b534afcf812e5986154f ;;
      esac
      mv "$stage/$name.mp4" "data/$name.mp4"
    fi
  done
fi

if need data/vtest-50.avi; then
  # Stream copy: DIV3 in AVI, every frame decodable from the first keyframe, so this yields
  # exactly 50 real frames and the AVI header's frame count says 50.
  ffmpeg -nostdin -v error -i data/vtest.avi -frames:v 50 -c copy "$stage/vtest-50.avi"
  n=$(count_frames "$stage/vtest-50.avi")
  [[ $n == 50 ]] || { echo "fetch-data: vtest-50.avi decodes to $n frames, expected 50" >&2; exit 1; }
  mv "$stage/vtest-50.avi" data/vtest-50.avi
fi

echo "fetch-data: done: $(cd data && ls -l vtest.avi vtest-50.avi box.mp4 cup.mp4 | awk '{printf "%s (%s B) ", $9, $5}')"
