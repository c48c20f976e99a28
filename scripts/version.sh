#!/usr/bin/env bash
# Prints Edge's version, the <Version> of Directory.Build.props: the one place it is written (assemblies, `edge
# --version`, the serving bundles' names, the Debian package). No .NET SDK needed.
set -euo pipefail
props="$(dirname "$0")/../Directory.Build.props"
version=$(sed -n 's:.*<Version>\([^<]*\)</Version>.*:\1:p' "$props" | head -1)
[[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+([-+~.][0-9A-Za-z.~+-]*)?$ ]] || { echo "version: no valid <Version> in $props" >&2; exit 1; }
echo "$version"
