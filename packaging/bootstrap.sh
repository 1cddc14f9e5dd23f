#!/usr/bin/env bash
# One command each for a fresh machine (Debian/Ubuntu with Python 3.11):
#   bash packaging/bootstrap.sh run    create .venv, install Celstudio, open the app on the demo project
#   bash packaging/bootstrap.sh test   create .venv, install Celstudio + test tools + Ray (the cluster extra), run the whole suite
# Every pin that must hold (CPU torch, PySide6 6.11.3) lives in packaging/constraints.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-run}"
shift || true

python="${PYTHON:-}"
if [ -z "$python" ]; then
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
      python="$candidate"; break
    fi
  done
fi
if [ -z "$python" ]; then
  echo "celstudio: Python 3.11 is required (apt-get install python3.11 python3.11-venv)." >&2
  exit 1
fi

if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
pip=(.venv/bin/python -m pip install --disable-pip-version-check -q -c packaging/constraints.txt)

case "$mode" in
  run)
    "${pip[@]}" -e .
    exec .venv/bin/celstudio demo "$@"
    ;;
  test)
    "${pip[@]}" -e ".[test,cluster]"  # test pulls cluster too; named here so the batch tests never skip
    export QT_QPA_PLATFORM=offscreen
    .venv/bin/ruff check app models tests benchmarks
    .venv/bin/mypy app models tests benchmarks
    .venv/bin/lint-imports
    .venv/bin/python -m pytest "$@"
    ;;
  *)
    echo "usage: bash packaging/bootstrap.sh run|test" >&2
    exit 2
    ;;
esac
