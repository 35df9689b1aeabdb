#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# scripts/check-freestanding.sh ARCHIVE
#
# The second half of `make freestanding`.  The first half compiled the core
# and src/port/none with -ffreestanding -nostdinc, so no host header can be
# included.  This checks the result links on its own: every symbol the
# archive references must be defined inside it, except
#   - weak references (optional hooks such as kmm_port_none_log_hook), and
#   - libgcc / compiler-rt arithmetic helpers (__udivti3, __popcountdi2, ...),
#     which every freestanding toolchain provides, and
#   - _GLOBAL_OFFSET_TABLE_, which the linker defines (PIE-default compilers
#     reference it for weak symbols).
# Anything else (printf, malloc, pthread_*, __stack_chk_fail, libatomic's
# __atomic_* for atomics that are not lock-free, ...) is listed with the
# objects that need it, and the check fails.
set -euo pipefail

ar=${1:?usage: check-freestanding.sh ARCHIVE}
NM=${NM:-nm}

if [ ! -f "$ar" ]; then
	echo "check-freestanding: $ar not found" >&2
	exit 1
fi

defined=$($NM -g --defined-only "$ar" 2>/dev/null | awk 'NF >= 3 { print $3 }' | sort -u)
# Strong undefined references only ("U"); weak ones ("w", "v") may stay unresolved.
undefined=$($NM -u "$ar" 2>/dev/null | awk '$1 == "U" { print $2 }' | sort -u)

libgcc='^__(u?(div|mod|divmod)|mul|neg|ash[lr]|lshr|clz|ctz|ffs|popcount|parity|bswap|u?cmp|fix|fixuns|float|floatun|extend|trunc|add|sub|pow)[a-z]*[0-9]$'

bad=$(comm -23 <(printf '%s\n' "$undefined") <(printf '%s\n' "$defined") |
	grep -v -E "$libgcc" | grep -v -x -e '_GLOBAL_OFFSET_TABLE_' -e '' || true)

if [ -n "$bad" ]; then
	echo "check-freestanding: $ar needs symbols a freestanding kernel does not have:" >&2
	while read -r sym; do
		users=$($NM -A -u "$ar" 2>/dev/null | awk -v s="$sym" '$NF == s { sub(/:$/, "", $1); n = split($1, a, ":"); print a[n] }' | sort -u | tr '\n' ' ')
		echo "  $sym  (used by: ${users% })" >&2
	done <<<"$bad"
	exit 1
fi
echo "freestanding: $(basename "$ar") OK ($(printf '%s\n' "$defined" | grep -c .) symbols defined, no host dependency)"
