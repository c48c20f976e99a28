#!/usr/bin/env bash
# Live-service benchmark: STREAMS live sources (vtest.avi replayed in a loop at its own 10 fps, as a camera would
# deliver it) run by `edge run` for SECONDS on this machine's cores with the default models. Prints, per stream,
# offered fps, processed fps and their ratio, drops and frame age at analysis (p50/p99 over the last 300 frames),
# plus the status lines logged every 30 s, which show whether frame age grows over time (it must not).
# STREAMS=N (default 4), SECONDS_TO_RUN=S (default 90).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null
streams=${STREAMS:-4}
seconds=${SECONDS_TO_RUN:-90}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
{
  printf '{ "Logging": { "File": "" }, "Sources": { "FileRoots": ["%s"] }, "Service": { "DataDirectory": "%s", "Streams": [' "$PWD/data" "$work/data"
  for i in $(seq 1 "$streams"); do
    (( i > 1 )) && printf ','
    printf '{ "Id": "cam%d", "Source": "%s", "Loop": true }' "$i" "$PWD/data/vtest.avi"
  done
  printf '] } }\n'
} > "$work/edge.json"
echo "edge run: $streams live streams of data/vtest.avi at 10 fps each for $seconds s on $(nproc) cores"
Host/bin/Release/net10.0/edge run --config "$work/edge.json" --for "$seconds" 2> "$work/stderr.log" \
  || { status=$?; tail -5 "$work/stderr.log" >&2; exit "$status"; }
grep -E 'cam[0-9]+: (Running|Backoff|Connecting)' "$work/stderr.log" || true
