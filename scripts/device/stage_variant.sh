#!/usr/bin/env bash
# Adds an A/B variant to an existing .devcarry/ (scripts/device/stage.sh first): applies PATCH to the working tree,
# builds frugal (and, with TESTS=1, frugal_cuda_tests) in BUILD_DIR, stages the binary as
# .devcarry/bin/frugal_TAG.xz (the tests as frugal_cuda_tests_TAG.xz), then reverts the patch and rebuilds, so the
# tree and BUILD_DIR end as they began. scripts/device/h200_ab.sh runs it as variant "TAG [VAR=value ...]".
# Usage: scripts/device/stage_variant.sh BUILD_DIR PATCH TAG
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:?build dir (see stage.sh)}
patch=${2:?patch file}
tag=${3:?tag}
[ -d .devcarry/bin ] || { echo "no .devcarry/bin: run scripts/device/stage.sh $build first"; exit 1; }
git diff --quiet -- src apps include || { echo "src/, apps/ or include/ has uncommitted changes; commit or stash them"; exit 1; }
targets=frugal
[ -n "${TESTS:-}" ] && targets="frugal frugal_cuda_tests"
git apply "$patch"
trap 'git apply -R "$patch"; ninja -C "$build" $targets > /dev/null' EXIT
ninja -C "$build" $targets | tail -1
cp "$build/bin/frugal" ".devcarry/bin/frugal_$tag"
[ -n "${TESTS:-}" ] && cp "$build/tests/frugal_cuda_tests" ".devcarry/bin/frugal_cuda_tests_$tag"
for f in ".devcarry/bin/frugal_$tag" ".devcarry/bin/frugal_cuda_tests_$tag"; do
    [ -f "$f" ] || continue
    strip "$f"
    xz -9 -T0 -f "$f"
done
du -sh .devcarry
