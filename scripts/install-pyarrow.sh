#!/usr/bin/env bash
# Installs pyarrow, the independent Parquet reader of the export tests, into a venv under
# .tools/pyarrow-venv (prints its python). From PyPI as a wheel; reused as long as .tools/ is kept.
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=26.0.1
venv=.tools/pyarrow-venv

if ! "$venv/bin/python" -c "import pyarrow, sys; sys.exit(pyarrow.__version__ != '$VERSION')" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "pyarrow==$VERSION"
fi
echo "$PWD/$venv/bin/python"
