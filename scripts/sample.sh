#!/usr/bin/env bash
# README command 1: set up (idempotent), then run Edge on the bundled sample footage, vtest.avi.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
Host/bin/Release/net10.0/edge process data/vtest.avi --out out/vtest "$@"
