#!/usr/bin/env bash
# A newcomer's first session, timed: a fresh clone of the repository, `make install`, then the
# README's quick start (the ```bash block that runs `genseg sample-data`), command by command,
# as written there. Prints the wall and CPU time of every step and the total; README.md quotes them.
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

# step LABEL COMMAND...: run it, append "LABEL<tab>wall s<tab>CPU s" to $times; stop on failure
timer='
import resource, subprocess, sys, time
label, times, command = sys.argv[1], sys.argv[2], sys.argv[3:]
start = time.perf_counter()
code = subprocess.call(command)
wall = time.perf_counter() - start
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
row = f"{label}\t{wall:.0f}\t{usage.ru_utime + usage.ru_stime:.0f}"
print(row)
if code == 0:
    with open(times, "a", encoding="utf-8") as f:
        f.write(row + "\n")
sys.exit(code)
'
step() {
    local label=$1
    shift
    printf '\n==> %s\n' "$label"
    python3 -c "$timer" "$label" "$times" "$@"
}

step "git clone" git clone -q "$repo" "$work/genseg"
cd "$work/genseg"
step "make install" make install

# The quick start as the README has it: the first bash block that calls `genseg sample-data`.
quickstart='
import re, sys
text = open(sys.argv[1], encoding="utf-8").read()
blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.S)
block = next(b for b in blocks if "genseg sample-data" in b)
for line in block.splitlines():
    line = line.split(" #", 1)[0].strip()
    if line and not line.startswith("#"):
        print(line)
'
mapfile -t commands < <(python3 -c "$quickstart" README.md)
# shellcheck disable=SC1091
source .venv/bin/activate
for command in "${commands[@]}"; do
    step "$command" bash -c "$command"
done

printf '\nstep\twall s\tCPU s\n'
cat "$times"
awk -F'\t' '{ w += $2; c += $3 } END { printf "total\t%d (%.1f min)\t%d\n", w, w / 60, c }' "$times"
uptime  # the load the times were measured under
echo "work folder: $work"
