#!/usr/bin/env bash
# Checks Edge on bare Debian 12 machines: throwaway roots with only the .NET SDK, made by fresh-machine.sh
# (shared/tools/README.md). Outside CI: each part takes minutes. Run as root.
#
# Usage: scripts/check-bare.sh [commands|deb|all] [DEB]
#   commands  the README's two commands, scripts/sample.sh && scripts/test.sh, on a clone of the committed HEAD
#             (uncommitted changes are not in it): 20-30 minutes on two cores
#   deb       `apt-get install ./edge_VERSION_amd64.deb` on another bare root, then `edge process` on vtest-50.avi
#             with no other step: about 5 minutes
#   all       both, deb first (default)
#   DEB       the package to install (default out/edge_VERSION_amd64.deb; scripts/package.sh makes it when missing)
# Env: FRESH_MACHINE, the path of fresh-machine.sh (default: shared/tools/fresh-machine.sh beside the repository, or
# /work/shared/tools/fresh-machine.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

part=${1:-all}
case $part in
  commands | deb | all) ;;
  *) sed -n '5,13p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
(( EUID == 0 )) || { echo "check-bare: run as root (fresh-machine.sh mounts and chroots)" >&2; exit 2; }
fresh=${FRESH_MACHINE:-}
if [[ -z $fresh ]]; then
  for candidate in ../shared/tools/fresh-machine.sh /work/shared/tools/fresh-machine.sh; do
    [[ -x $candidate ]] && { fresh=$(readlink -f "$candidate"); break; }
  done
fi
[[ -n $fresh && -x $fresh ]] || { echo "check-bare: fresh-machine.sh not found (set FRESH_MACHINE)" >&2; exit 2; }
"$fresh" init >/dev/null

check_deb() {
  local version deb stage
  version=$(scripts/version.sh)
  deb=${1:-out/edge_${version}_amd64.deb}
  if [[ ! -s $deb ]]; then
    [[ $# -ge 1 ]] && { echo "check-bare: no such package: $deb" >&2; return 1; }
    scripts/package.sh
  fi
  [[ -s data/vtest-50.avi ]] || { echo "check-bare: data/vtest-50.avi is missing (scripts/fetch-data.sh)" >&2; return 1; }
  # fresh-machine.sh brings a git repository's committed files into the root: a throwaway repository holding just the
  # package and the clip carries them in, and nothing of this checkout (no build, no models) comes along.
  stage=$(mktemp -d /var/tmp/edge-check-bare.XXXXXX)
  trap 'rm -rf "$stage"' RETURN
  cp "$deb" "$stage/$(basename "$deb")"
  cp data/vtest-50.avi "$stage/vtest-50.avi"
  git -C "$stage" init -q
  git -C "$stage" add -A
  git -C "$stage" -c user.name=check-bare -c user.email=check-bare@localhost commit -q -m "package and clip for a bare-root install"
  echo "check-bare: deb: installing $(basename "$deb") on a bare Debian 12 root"
  "$fresh" run "$stage" "set -e
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ./$(basename "$deb") >/tmp/apt.log 2>&1 || { tail -20 /tmp/apt.log; exit 1; }
    echo \"installed: \$(dpkg-query -W -f='\${Package} \${Version} \${Status}' edge)\"
    cd \"\$(mktemp -d)\"
    edge process /work/project/vtest-50.avi --out vtest-50
    test \"\$(grep -c . vtest-50/frames.jsonl)\" = 50
    echo \"bare-root deb check passed: \$(command -v edge) -> \$(readlink -f \"\$(command -v edge)\"), config \$(readlink -f /opt/edge/config/edge.json), 50 frames in vtest-50/frames.jsonl\""
}

check_commands() {
  if [[ -n $(git status --porcelain --untracked-files=no) ]]; then
    echo "check-bare: note: uncommitted changes are not checked (fresh-machine.sh clones the committed HEAD)"
  fi
  echo "check-bare: commands: scripts/sample.sh && scripts/test.sh on a bare Debian 12 root"
  "$fresh" run . 'scripts/sample.sh && scripts/test.sh'
}

# A failing part stops the script with its exit code (fresh-machine.sh's: the command's own).
if [[ $part == deb || $part == all ]]; then
  check_deb "${@:2}"
fi
if [[ $part == commands || $part == all ]]; then
  check_commands
fi
