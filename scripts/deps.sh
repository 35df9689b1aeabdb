#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# scripts/deps.sh - make sure the Debian packages kmm builds with are there.
#
# Quiet when everything is installed.  Otherwise: as root, installs what is
# missing with apt-get (non-interactively); as anyone else, prints the exact
# command to run and exits 1.
#
#   meson ninja-build pkg-config gcc clang   build tools
#   libcriterion-dev                         the test framework
#   zlib1g-dev                               kmm replay reads .gz traces
#   liburcu-dev                              userspace RCU
#   libclang-rt-<N>-dev                      clang's sanitizer and libFuzzer
#                                            runtimes, N = clang's major
#                                            version (14 on Debian 12)
#
# On a system without dpkg it only checks the commands and warns.
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive

base_pkgs=(meson ninja-build pkg-config gcc clang libcriterion-dev liburcu-dev zlib1g-dev)

if ! command -v dpkg-query >/dev/null 2>&1; then
	missing_cmds=()
	for c in meson ninja pkg-config gcc clang; do
		command -v "$c" >/dev/null 2>&1 || missing_cmds+=("$c")
	done
	if ((${#missing_cmds[@]})); then
		echo "deps.sh: not a Debian system and missing: ${missing_cmds[*]}" >&2
		echo "deps.sh: install them (and Criterion, liburcu) with your package manager" >&2
		exit 1
	fi
	exit 0
fi

installed() {
	[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]
}

# clang's runtime package follows clang's major version.
clang_rt_pkg() {
	local major=14
	if command -v clang >/dev/null 2>&1; then
		major=$(clang -dumpversion 2>/dev/null | cut -d. -f1)
		[[ "$major" =~ ^[0-9]+$ ]] || major=14
	fi
	echo "libclang-rt-${major}-dev"
}

missing_of() {
	local p
	for p in "$@"; do
		installed "$p" || echo "$p"
	done
}

install_pkgs() {
	if [ "$(id -u)" -eq 0 ]; then
		echo "deps.sh: installing: $*" >&2
		apt-get update -qq </dev/null >&2 ||
			echo "deps.sh: apt-get update failed; trying the cached package lists" >&2
		apt-get install -y -qq --no-install-recommends "$@" </dev/null >&2
	else
		echo "deps.sh: missing Debian packages: $*" >&2
		echo "deps.sh: install them with:" >&2
		echo "  sudo apt-get install -y --no-install-recommends $*" >&2
		exit 1
	fi
}

mapfile -t missing < <(missing_of "${base_pkgs[@]}" "$(clang_rt_pkg)")
if ((${#missing[@]})); then
	install_pkgs "${missing[@]}"
fi

# clang was just installed and is not version 14: its own runtime package.
mapfile -t missing < <(missing_of "$(clang_rt_pkg)")
if ((${#missing[@]})); then
	install_pkgs "${missing[@]}"
fi
exit 0
