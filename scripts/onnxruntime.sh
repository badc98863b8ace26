#!/usr/bin/env bash
# Fetch the ONNX Runtime shared library (CPU build) that Sluice's onnx format
# loads at run time, from the npm registry, and verify it.
#
#   scripts/onnxruntime.sh [DEST_DIR]     (default: third_party/onnxruntime)
#
# Prints the library's path; point SLUICE_ONNXRUNTIME_LIB or --onnxruntime-lib at it.
set -euo pipefail
version="1.24.1"
dest="${1:-$(cd "$(dirname "$0")/.." && pwd)/third_party/onnxruntime}"
lib="$dest/libonnxruntime.so.$version"
if [ -f "$lib" ]; then
  echo "$lib"
  exit 0
fi
case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) inner="package/bin/napi-v6/linux/x64/libonnxruntime.so.1" ;;
  Linux-aarch64) inner="package/bin/napi-v6/linux/arm64/libonnxruntime.so.1" ;;
  *) echo "no ONNX Runtime build for $(uname -s)-$(uname -m) in onnxruntime-node; see README (ONNX)" >&2; exit 1 ;;
esac
command -v npm >/dev/null || { echo "npm is needed to fetch ONNX Runtime (or download a release tarball; see README)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "onnxruntime-node@$version" >/dev/null)
tarball=$(ls "$work"/onnxruntime-node-*.tgz)
want=$(npm view "onnxruntime-node@$version" dist.shasum)
got=$(sha1sum "$tarball" | cut -d' ' -f1)
if [ "$want" != "$got" ]; then
  echo "onnxruntime-node@$version: sha1 $got does not match the registry's $want" >&2
  exit 1
fi
tar -xzf "$tarball" -C "$work" "$inner"
mkdir -p "$dest"
install -m 0644 "$work/$inner" "$lib.tmp"
mv "$lib.tmp" "$lib"
echo "$lib"
