#!/usr/bin/env bash
# Set up llm-tui in a virtual environment; safe to run again (it only reinstalls when pyproject.toml changed).
#   scripts/setup.sh          runtime dependencies
#   scripts/setup.sh dev      runtime + test tools
# Uses the active virtual environment when there is one ($VIRTUAL_ENV), else ./.venv (made with $PYTHON or
# python3). torch: if the environment already has one (a CUDA build on a GPU box, say) it is kept; otherwise
# torch==2.13.0 is installed before anything else, so no later step picks a different build.
set -euo pipefail
cd "$(dirname "$0")/.."
extra="${1:-}"
if [ -n "${VIRTUAL_ENV:-}" ]; then
  py="$VIRTUAL_ENV/bin/python"
else
  if [ ! -x .venv/bin/python ]; then
    "${PYTHON:-python3}" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' \
      || { echo "setup: llm-tui needs Python 3.10 or newer; set PYTHON=/path/to/python3.11 and run again" >&2; exit 2; }
    "${PYTHON:-python3}" -m venv .venv
  fi
  py=.venv/bin/python
fi
if ! "$py" -c 'import torch' >/dev/null 2>&1; then
  echo "setup: installing torch==2.13.0"
  "$py" -m pip install -q --disable-pip-version-check "torch==2.13.0"
fi
target="."
[ "$extra" = "dev" ] && target=".[dev]"
stamp="$("$py" -c 'import sys; print(sys.prefix)')/.llm-tui-setup"
sum="$(cksum < pyproject.toml | cut -d' ' -f1) $PWD"
# A dev install also satisfies a plain one.
if grep -qxF -- "$sum dev" "$stamp" 2>/dev/null || grep -qxF -- "$sum $extra" "$stamp" 2>/dev/null; then
  exit 0
fi
echo "setup: installing llm-tui ($target)"
"$py" -m pip install -q --disable-pip-version-check -e "$target"
echo "$sum $extra" > "$stamp"
