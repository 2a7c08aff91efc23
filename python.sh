#!/bin/sh
# Every stage in dvc.yaml runs through this file: `sh python.sh -m stages.<name>`.
# DVC runs a stage's cmd with the caller's PATH, so a plain `python` there may be no
# Python at all (a bare PATH) or another interpreter without this project's packages.
# This picks the project's own interpreter, the first of:
#   1. $PROJECT_PYTHON, if set (e.g. a conda environment's python);
#   2. .venv/bin/python in the current folder or the nearest parent that has one
#      (queued experiments run in .dvc/tmp/exps/<id>/ inside the project);
#   3. python3 on PATH.
# A module (-m) runs under pipeline.runtime.lifeline, which stops it when DVC, its parent, stops.
if [ "${1:-}" = "-m" ]; then
  export PIPELINE_PARENT_PID=$PPID  # DVC: this shell execs Python, so Python's parent is the same
  # ... or the `sh -c` DVC runs the cmd with; its parent now is DVC. Should DVC end before the stage watches
  # it, Linux gives that shell to another parent: the stage compares and stops (pipeline.runtime.lifeline).
  read -r stat 2>/dev/null <"/proc/$PPID/stat" || stat=""  # "pid (name) state ppid ...": built-ins only
  rest=${stat##*) }
  rest=${rest#* }
  if [ -n "$stat" ]; then export PIPELINE_GRANDPARENT_PID="${rest%% *}"; else unset PIPELINE_GRANDPARENT_PID; fi
  set -- -m pipeline.runtime.lifeline "$@"
fi
if [ -n "${PROJECT_PYTHON:-}" ]; then
  if ! command -v "$PROJECT_PYTHON" >/dev/null 2>&1; then
    echo "python.sh: PROJECT_PYTHON=$PROJECT_PYTHON is not an executable; allowed: the path or command name of a Python with this project's packages" >&2
    exit 127
  fi
  exec "$PROJECT_PYTHON" "$@"
fi
directory=$(pwd)
while :; do  # shell built-ins only: this must work with an empty PATH
  if [ -x "$directory/.venv/bin/python" ]; then
    exec "$directory/.venv/bin/python" "$@"
  fi
  [ -z "$directory" ] && break  # "" stands for / after the last strip
  directory=${directory%/*}
done
if command -v python3 >/dev/null 2>&1; then
  exec python3 "$@"
fi
echo "python.sh: no .venv/bin/python in $(pwd) or its parents and no python3 on PATH; run 'bash install.sh' or set PROJECT_PYTHON" >&2
exit 127
