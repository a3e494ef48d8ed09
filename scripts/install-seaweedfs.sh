#!/usr/bin/env bash
# Installs SeaweedFS's `weed`, the S3-compatible server the tests and CI run the S3 store against,
# into .tools/seaweedfs/ (prints its path). Built from source fetched through the Go module proxy:
# no binary is downloaded. The first build takes ~17 min of CPU; Go's build cache makes a rebuild
# on the same machine quick, and the installed binary is reused as long as .tools/ is kept.
set -euo pipefail
cd "$(dirname "$0")/.."

MODULE=github.com/seaweedfs/seaweedfs
VERSION=v0.0.0-20261109003541-7506e5f91cd6
dir=".tools/seaweedfs/$VERSION"

if [ ! -x "$dir/weed" ]; then
  command -v go >/dev/null || { echo "install-seaweedfs: needs Go (golang-go)" >&2; exit 1; }
  # `go install …/weed@version` is refused (the module has replace directives): build a copy.
  src="$(go mod download -json "$MODULE@$VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  cp -r "$src" "$work/src"
  chmod -R u+w "$work/src"
  mkdir -p "$dir"
  (cd "$work/src" && go build -buildvcs=false -o "$work/weed" ./weed)
  mv "$work/weed" "$dir/weed"
fi
ln -sfn "$VERSION/weed" .tools/seaweedfs/weed
echo "$PWD/.tools/seaweedfs/weed"
