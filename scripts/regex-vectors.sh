#!/usr/bin/env bash
# Runs all of Go's regular-expression test vectors (re2-search.txt and the 5.7 million cases of
# re2-exhaustive.txt.bz2) through Medic's regex engine. `swift test` runs the search file and a sample of
# the exhaustive one; this runs everything, on an optimized build of the engine alone (under a minute).
set -euo pipefail
cd "$(dirname "$0")/.."
vectors=../shared/fixtures/go-regexp
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
swiftc -O -module-name RegexVectors Sources/MedicCore/Regex/*.swift \
    Sources/MedicCore/Matching/GoStringLiteral.swift Sources/MedicCore/Matching/MatcherSyntaxError.swift \
    Tests/MedicCoreTests/Support/GoRegexVectors.swift scripts/regex-vectors/main.swift -o "$work/regex-vectors"
"$work/regex-vectors" "$vectors/re2-search.txt"
bzcat "$vectors/re2-exhaustive.txt.bz2" > "$work/re2-exhaustive.txt"
"$work/regex-vectors" "$work/re2-exhaustive.txt"
