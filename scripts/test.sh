#!/usr/bin/env bash
# README command 2: set up (idempotent), then run every test project; the last line is the totals.
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh || exit 1
# The CPU serving bundle and its Debian package, made as a release makes them; tests/Host.Tests/BundleTests.cs checks
# what they hold and runs them. Built here, once, rather than by the test: the two scripts are what is tested, and a
# three-minute publish inside the test run would compete with the other tests for the two cores.
NO_TAR=1 scripts/publish.sh cpu || exit 1
scripts/package.sh || exit 1

log=$(mktemp)
trap 'rm -f "$log"' EXIT
# One test project at a time: the CNN tests use both cores.
dotnet test Edge.sln -c Release --no-build -m:1 --nologo 2>&1 | tee "$log"
status=${PIPESTATUS[0]}

# "Passed!  - Failed:     0, Passed:    12, Skipped:     0, Total:    12, ..." per project.
read -r passed failed skipped projects < <(awk '
  /(Passed|Failed)! +- Failed:/ {
    gsub(/,/, "");
    for (i = 1; i <= NF; i++) {
      if ($i == "Failed:") f += $(i + 1);
      if ($i == "Passed:") p += $(i + 1);
      if ($i == "Skipped:") s += $(i + 1);
    }
    n++
  }
  END { print p + 0, f + 0, s + 0, n + 0 }' "$log")
expected=$(ls tests/*/*.Tests.csproj | wc -l)
if (( status == 0 && projects < expected )); then
  echo "only $projects of $expected test projects reported results" >&2
  status=1
fi
echo "$passed passed, $failed failed, $skipped skipped"
exit "$status"
