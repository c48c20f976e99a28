#!/usr/bin/env bash
# The Debian package of Edge's CPU serving bundle: edge_VERSION_amd64.deb.
#
# Usage: scripts/package.sh [BUNDLE] [OUTDIR]
#   BUNDLE  the CPU serving bundle (default out/edge-VERSION-linux-x64-cpu; built with scripts/publish.sh cpu when
#           missing)
#   OUTDIR  where the .deb goes (default out)
#
# Layout: the bundle in /opt/edge; /usr/bin/edge a link to /opt/edge/edge; the configuration in /etc/edge/edge.json
# (a conffile; /opt/edge/config/edge.json links to it, so `edge` finds it beside itself); the systemd unit
# config/edge.service as /lib/systemd/system/edge.service (state in /var/lib/edge, logs in /var/log/edge and the
# journal); copyright, changelog, a man page and lintian's overrides (with their reasons) under /usr/share.
# Depends: the Debian packages of the libraries the bundle's native code is linked against (each NEEDED entry of its
# ELF files through scripts/native-packages.tsv; none of the transitive closure), libc6 at least as new as the newest
# GLIBC symbol version they ask for, and what Edge loads or runs at run time without linking: libssl3 (.NET's TLS,
# for HTTPS webhooks and MQTT over TLS), ffmpeg (network streams), procps (/bin/kill, the unit's reload).
# Needs: dpkg-deb, readelf (Debian: binutils), gzip. VERSION: scripts/version.sh (Directory.Build.props).
set -euo pipefail
cd "$(dirname "$0")/.."

version=$(scripts/version.sh)
bundle=${1:-out/edge-$version-linux-x64-cpu}
bundle=${bundle%/}
outdir=${2:-out}
table=scripts/native-packages.tsv
deb=$outdir/edge_${version}_amd64.deb

for tool in dpkg-deb readelf gzip; do
  command -v "$tool" >/dev/null || { echo "package: '$tool' not found (Debian: apt-get install -y --no-install-recommends binutils dpkg)" >&2; exit 1; }
done
if [[ ! -x $bundle/edge ]]; then
  if [[ $# -ge 1 ]]; then
    echo "package: $bundle is not a serving bundle (no edge in it); scripts/publish.sh cpu builds one" >&2
    exit 1
  fi
  scripts/publish.sh cpu "$bundle"
fi
if [[ -e $bundle/libonnxruntime_providers_cuda.so ]]; then
  echo "package: $bundle is a CUDA bundle; the package carries the CPU bundle (scripts/publish.sh cpu)" >&2
  exit 1
fi

mkdir -p "$outdir"
root=$(mktemp -d "$outdir/.deb.XXXXXX")
trap 'rm -rf "$root"' EXIT

# Files.
install -d "$root/opt" "$root/usr/bin" "$root/etc/edge" "$root/lib/systemd/system" \
  "$root/usr/share/doc/edge" "$root/usr/share/man/man1" "$root/DEBIAN"
cp -a "$bundle" "$root/opt/edge"
mv "$root/opt/edge/config/edge.json" "$root/etc/edge/edge.json"
ln -s /etc/edge/edge.json "$root/opt/edge/config/edge.json"
ln -s /opt/edge/edge "$root/usr/bin/edge"
cp config/edge.service "$root/lib/systemd/system/edge.service"
cp scripts/debian/copyright "$root/usr/share/doc/edge/copyright"
gzip -9n -c scripts/debian/edge.1 >"$root/usr/share/man/man1/edge.1.gz"
install -d "$root/usr/share/lintian/overrides"
cp scripts/debian/lintian-overrides "$root/usr/share/lintian/overrides/edge"

# A native package's changelog: one entry for this version, dated by the commit it is built from (reproducible).
maintainer=${DEB_MAINTAINER:-$(git log -1 --format='%an <%ae>' 2>/dev/null || true)}
maintainer=${maintainer:-Edge maintainers <edge@localhost>}
date=$(git log -1 --format=%cD 2>/dev/null || date -R)
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
{
  echo "edge ($version) unstable; urgency=medium"
  echo
  echo "  * Serving build $version from commit $commit."
  echo
  echo " -- $maintainer  $date"
} | gzip -9n >"$root/usr/share/doc/edge/changelog.gz"

# Modes: folders 755, files 644 (shared libraries too: the loader needs to read them, not to execute them), the two
# programs 755.
find "$root" -type d -exec chmod 755 {} +
find "$root" -type f -exec chmod 644 {} +
chmod 755 "$root/opt/edge/edge" "$root/opt/edge/check-native.sh"

# Depends.
elves=("$root/opt/edge/edge" "$root"/opt/edge/*.so*)
declare -A inside=()
for f in "${elves[@]}"; do inside[$(basename "$f")]=1; done
declare -A packages=()
unknown=()
while IFS= read -r soname; do
  [[ -n ${inside[$soname]:-} ]] && continue
  pkg=$(awk -F'\t' -v lib="$soname" '!/^#/ && $1 == lib { print $2; exit }' "$table")
  if [[ -z $pkg ]]; then
    unknown+=("$soname")
  else
    packages[$pkg]=1
  fi
done < <(for f in "${elves[@]}"; do readelf -d "$f" | sed -nE 's/.*\(NEEDED\)[^[]*\[([^]]+)\].*/\1/p'; done | sort -u)
if (( ${#unknown[@]} > 0 )); then
  echo "package: no Debian package known for ${unknown[*]}: add each to $table (apt-file search NAME)" >&2
  exit 1
fi
glibc=$(for f in "${elves[@]}"; do readelf -V --wide "$f"; done | sed -nE 's/.*Name: GLIBC_([0-9.]+).*/\1/p' | sort -uV | tail -1)
depends=()
for pkg in $(printf '%s\n' "${!packages[@]}" libssl3 ffmpeg procps | sort -u); do
  if [[ $pkg == libc6 && -n $glibc ]]; then
    depends+=("libc6 (>= $glibc)")
  else
    depends+=("$pkg")
  fi
done

installed_kb=$(du -s -k --apparent-size "$root" --exclude=DEBIAN | cut -f1)
cat >"$root/DEBIAN/control" <<EOF
Package: edge
Version: $version
Architecture: amd64
Maintainer: $maintainer
Installed-Size: $installed_kb
Depends: $(IFS=,; echo "${depends[*]}" | sed 's/,/, /g')
Recommends: ca-certificates
Section: video
Priority: optional
Description: real-time video analytics (serving build)
 Edge reads frames from video files, cameras and RTSP/HTTP streams, runs a
 CNN on every frame with ONNX Runtime and writes per-frame results, the
 objects in each frame, events and annotated video. The service (edge run,
 systemd unit edge.service) runs many streams at once with a web dashboard,
 a REST API and Prometheus metrics, and delivers events over MQTT or HTTP.
 .
 This is the self-contained serving build (its own .NET runtime) in
 /opt/edge, on the CPU, with the prepared ResNet18 frame model and the
 default object head.
EOF
echo /etc/edge/edge.json >"$root/DEBIAN/conffiles"
install -m 755 scripts/debian/postinst scripts/debian/prerm scripts/debian/postrm "$root/DEBIAN/"
chmod 644 "$root/DEBIAN/control" "$root/DEBIAN/conffiles"

rm -f "$deb"
# gzip -6: xz (dpkg's default) takes minutes for the 300 MB bundle on two cores, and gzip -9 (dpkg's gzip default)
# twice the time of -6 for the same size (162 MB; -1: 171 MB). DEB_COMPRESS=xz for the smaller, slower file.
compress=${DEB_COMPRESS:-gzip}
level=()
[[ $compress == gzip ]] && level=(-z6)
dpkg-deb --root-owner-group -Z"$compress" "${level[@]}" --build "$root" "$deb" >/dev/null
echo "package: $deb: $(($(stat -c %s "$deb") / 1000000)) MB, installs $((installed_kb / 1000)) MB"
echo "package: Depends: $(dpkg-deb -f "$deb" Depends)"
