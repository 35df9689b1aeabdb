#!/bin/sh
# SPDX-License-Identifier: MIT
# map-screenshot.sh [KMM [OUT.png]] - regenerate docs/kmm-map.png: a
# `kmm map --html` of a 1 GiB machine with a 64 MiB CMA area after the short
# workload, rendered by headless Chromium at 1400x1000.
#
# Chromium (Debian's `chromium` package) is needed only here, not for
# building or testing kmm: when it is missing this script installs it with
# apt-get when run as root, and otherwise prints the command and stops.
set -eu
cd "$(dirname "$0")/.."
KMM=${1:-./build/kmm}
OUT=${2:-docs/kmm-map.png}
BOOT=${MAP_BOOT:-mem=1G cma=64M}
SEED=${MAP_SEED:-1}

if [ ! -x "$KMM" ]; then
	echo "map-screenshot: $KMM not found; run 'make' first (or pass the kmm binary)" >&2
	exit 1
fi
CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$CHROMIUM" ]; then
	if [ "$(id -u)" = 0 ]; then
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium
		CHROMIUM=$(command -v chromium)
	else
		echo "map-screenshot: chromium is missing; install it with:" >&2
		echo "  sudo apt-get install -y chromium" >&2
		exit 1
	fi
fi

T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
"$KMM" map --boot "$BOOT" --workload --seed "$SEED" --html "$T/map.html" 2>"$T/map.err" || {
	cat "$T/map.err" >&2
	exit 1
}
"$CHROMIUM" --headless --no-sandbox --disable-gpu --hide-scrollbars \
	--screenshot="$T/map.png" --window-size=1400,1000 "file://$T/map.html" \
	>"$T/chromium.log" 2>&1 || { cat "$T/chromium.log" >&2; exit 1; }
cp "$T/map.png" "$OUT"
echo "map-screenshot: wrote $OUT ($(wc -c <"$OUT") bytes) from: kmm map --boot \"$BOOT\" --workload --seed $SEED"
