#!/usr/bin/env bash
# A newcomer's first session, timed: a fresh clone of the repository, `make install`, then the
# README's quick start (the ```bash block that runs `genseg sample-data`), command by command,
# as written there. Prints the time of every step and the total; README.md quotes them.
#
#   scripts/newcomer.sh [REPOSITORY] [WORK_DIR]
#
# REPOSITORY defaults to this checkout (its committed HEAD is what gets cloned), WORK_DIR to a
# new temporary folder (kept: the clone, its .venv, the model and the outputs). The genseg data
# folder starts empty (GENSEG_DATA_DIR in WORK_DIR), as on a new machine; pip's cache is the
# user's own. Needs: git, make, python3 (>= 3.10) and the package registry.
set -euo pipefail

repo=$(cd "${1:-$(dirname "$0")/..}" && pwd)
work=${2:-$(mktemp -d -t genseg-newcomer.XXXXXX)}
mkdir -p "$work"
work=$(cd "$work" && pwd)
times="$work/times.tsv"
: >"$times"
export GENSEG_DATA_DIR="$work/genseg-data"

step() {  # step LABEL COMMAND...: run, time, stop at the first failure
    local label=$1 start
    shift
    printf '\n==> %s\n' "$label"
    start=$(date +%s)
    "$@"
    printf '%s\t%d\n' "$label" "$(($(date +%s) - start))" | tee -a "$times"
}

step "git clone" git clone -q "$repo" "$work/genseg"
cd "$work/genseg"
step "make install" make install

# The quick start as the README has it: the first bash block that calls `genseg sample-data`.
mapfile -t commands < <(python3 - README.md <<'EOF'
import re, sys
text = open(sys.argv[1], encoding="utf-8").read()
blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.S)
block = next(b for b in blocks if "genseg sample-data" in b)
for line in block.splitlines():
    line = line.split(" #", 1)[0].strip()
    if line and not line.startswith("#"):
        print(line)
EOF
)
# shellcheck disable=SC1091
source .venv/bin/activate
for command in "${commands[@]}"; do
    step "$command" bash -c "$command"
done

printf '\nstep\tseconds\n'
cat "$times"
awk -F'\t' '{ s += $2 } END { printf "total\t%d s (%.1f min)\n", s, s / 60 }' "$times"
echo "work folder: $work"
