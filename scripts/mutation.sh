#!/usr/bin/env bash
# Mutation testing with mutmut (PyPI) of the rules whose breaking users would notice most: prune's
# planner and feature (the only command that destroys data) and migrate --rewrite-functions. mutmut
# makes one-line weakenings of the code (a comparison flipped, a condition dropped, a constant
# changed); a mutant the tests do not notice "survives". Prints each target's score and its survivors.
#
#   scripts/mutation.sh [TARGET...]     TARGET: rewrite, prune, planner, or a .py path in the package
#                                       (default: every target that exists in this tree)
#   MUTATION_JOBS=2                     mutants run at once
#   MUTATION_WORKDIR=DIR                where the copies, the venv and the reports go (default: mktemp)
#   MUTATION_FILTER='*redeploy* *store*' only the mutants whose names match one of these globs (mutmut's)
#
# Slow (minutes per target: every mutant runs the tests that reach it), so not in every CI run.
# mutmut is never in requirements.lock: it goes into a throwaway venv with the lock's packages, and
# runs on a copy of the tree (git ls-files), so the working tree and the lock stay as they are.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
MUTMUT_VERSION=3.8.1
jobs=${MUTATION_JOBS:-2}
work=${MUTATION_WORKDIR:-$(mktemp -d "${TMPDIR:-/tmp}/mutation.XXXXXX")}
mkdir -p "$work"

# target -> "files to mutate|test files" (globs; prune's files before and after its split in a package)
spec() {
  case "$1" in
    rewrite) echo "mlrun_registry_ext/features/migrate/rewrite.py|tests/test_migrate_rewrite.py" ;;
    prune) echo "mlrun_registry_ext/features/prune.py mlrun_registry_ext/features/prune/*.py|tests/test_prune.py tests/test_prune_safety.py tests/test_prune_mlrun_db.py" ;;
    # the planner is pure: its own tests (examples per rule, the property test against an oracle)
    planner) echo "mlrun_registry_ext/core/prune_plan.py|tests/test_prune_plan.py" ;;
    *.py) echo "$1|${MUTATION_TESTS:-tests/test_*.py}" ;;
    *) echo "unknown target '$1': rewrite, prune, planner or a .py path" >&2; return 2 ;;
  esac
}

existing() {  # the globs' files that exist in the tree, one a line
  local pattern
  for pattern in $1; do
    compgen -G "$pattern" || true
  done
}

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for t in rewrite prune planner; do
    files=$(existing "$(spec "$t" | cut -d'|' -f1)")
    [ -n "$files" ] && targets+=("$t")
  done
fi

venv=$work/venv
if [ ! -x "$venv/bin/mutmut" ]; then
  echo "mutation: a throwaway venv with the lock's packages and mutmut $MUTMUT_VERSION in $venv" >&2
  uv venv -q -p "$(command -v python3.11 || command -v python3)" "$venv"
  uv pip sync -q -p "$venv/bin/python" requirements.lock
  uv pip install -q -p "$venv/bin/python" "mutmut==$MUTMUT_VERSION"
fi

summary=()
for target in "${targets[@]}"; do
  line=$(spec "$target")
  files=$(existing "${line%%|*}")
  tests=$(existing "${line#*|}")
  if [ -z "$files" ] || [ -z "$tests" ]; then
    echo "mutation: $target: nothing to mutate or no tests in this tree" >&2
    summary+=("$target: not run (no files)")
    continue
  fi
  copy=$work/$target
  rm -rf "$copy" && mkdir -p "$copy"
  if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git ls-files -z --cached --others --exclude-standard | tar -c --null -T - | tar -x -C "$copy"
  else  # an exported tree (git archive): everything but the venvs and caches
    tar -c --exclude='./.venv*' --exclude='*/__pycache__' --exclude='./mutants' . | tar -x -C "$copy"
  fi
  # The services the tests start need the real MLRun server venv where they look for it.
  [ -d .venv-mlrun-server ] && ln -s "$root/.venv-mlrun-server" "$copy/.venv-mlrun-server"
  {
    echo "[mutmut]"
    echo "source_paths = mlrun_registry_ext"
    echo "only_mutate ="
    for f in $files; do echo "    $f"; done
    echo "pytest_add_cli_args_test_selection ="
    for t in $tests; do echo "    $t"; done
    echo "pytest_add_cli_args ="
    echo "    -p"
    echo "    no:cacheprovider"
    echo "    -W"
    echo "    ignore"
    echo "use_git_change_detection = false"
  } > "$copy/setup.cfg"
  echo "mutation: $target: mutating $(echo "$files" | tr '\n' ' ')with $(echo "$tests" | wc -l) test file(s)" >&2
  started=$(date +%s)
  (
    cd "$copy"
    read -r -a filter <<< "${MUTATION_FILTER:-}"
    env -u MLRUN_DBPATH MLRUN_IGNORE_ENV_FILE=true "$venv/bin/mutmut" run --max-children "$jobs" \
      "${filter[@]}" > "$work/$target.run.log" 2>&1 || true
    "$venv/bin/mutmut" results --all true > "$work/$target.results.txt" 2>&1 || true
  )
  seconds=$(( $(date +%s) - started ))
  # one line per mutant: "    <name>: <status>"
  score=$(awk -F': ' '
    /: / { status=$NF; total++; count[status]++ }
    END {
      killed = count["killed"] + count["timeout"] + count["caught by type check"]
      checked = total - count["not checked"] - count["skipped"]
      printf "%d of %d mutants killed (%.1f%%): survived %d, no tests %d, suspicious %d, not checked %d",
             killed, checked, checked ? 100 * killed / checked : 0, count["survived"], count["no tests"],
             count["suspicious"], count["not checked"]
    }' "$work/$target.results.txt")
  summary+=("$target: $score; $seconds s")
  echo "mutation: $target: $score ($seconds s); survivors:" >&2
  grep -E ': (survived|no tests|suspicious)$' "$work/$target.results.txt" | sed 's/^ */  /' >&2 || true
  echo "  (mutmut show NAME in $copy shows a mutant's diff)" >&2
done

echo "mutation scores (reports in $work):"
for line in "${summary[@]}"; do echo "  $line"; done
