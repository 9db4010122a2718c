#!/usr/bin/env bash
# Generates PATTERNS random patterns (default 25000, about 170,000 inputs) with Go's verdicts and compares
# GoRegex with them. Needs Go; see README.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd scripts/regex-differential && go run gen.go -n "${1:-25000}" -seed "${2:-1}") > "$work/cases.txt"
swiftc -O -module-name RegexDifferential Sources/MedicCore/Regex/*.swift scripts/regex-differential/main.swift \
    -o "$work/regex-differential"
"$work/regex-differential" "$work/cases.txt"
