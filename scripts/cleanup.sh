# Cleanup on every exit of the script that sources this: a normal end, `exit`, a failed command
# under `set -e`, Ctrl-C (INT) or a CI runner's TERM. Sourced by scripts/check (and its test,
# scripts/cleanup-test).
#
# A background job started with `in_group` runs in a process group of its own (job control, `set
# -m`, for that one `&`), so at exit the whole group is signalled: the subshell, infra/build, cargo,
# rustc, the linker. Killing the subshell's pid alone (the old trap) left its children building.
# Paths given to `remove_at_exit` are removed once the groups are gone (nothing writes to them
# any more). bash runs a trap for INT or TERM after the foreground command it waits on ends (a
# Ctrl-C ends that too); in `wait` it runs at once.
# shellcheck shell=bash

cleanup_groups=()
cleanup_paths=()

# in_group VAR COMMAND...: runs COMMAND (a function too) in the background in a new process group,
# stdin from /dev/null; VAR gets its pid, which is the group's id.
in_group() {
  local var=$1 pid monitor=false
  shift
  case $- in *m*) monitor=true ;; esac
  set -m
  "$@" < /dev/null &
  pid=$!
  $monitor || set +m
  cleanup_groups+=("$pid")
  printf -v "$var" %s "$pid"
}

remove_at_exit() { cleanup_paths+=("$@"); }

# wait_group PID: waits for the job `in_group` started and returns its status; its group is then
# left alone at exit (its id could be another's by then).
wait_group() {
  local status=0 kept=() pgid
  wait "$1" || status=$?
  for pgid in "${cleanup_groups[@]}"; do [ "$pgid" = "$1" ] || kept+=("$pgid"); done
  cleanup_groups=("${kept[@]}")
  return "$status"
}

# group_alive PGID: a process of that group is still running (zombies, already dead, do not count).
group_alive() {
  ps -e -o pgid=,stat= | awk -v g="$1" '$1 == g && $2 !~ /^Z/ { found = 1 } END { exit !found }'
}

cleanup() {
  local pgid _
  for pgid in "${cleanup_groups[@]}"; do
    kill -TERM -- "-$pgid" 2> /dev/null || continue
    # cargo and rustc end within a second of TERM; KILL what is left after ten.
    for _ in $(seq 100); do group_alive "$pgid" || break; sleep 0.1; done
    kill -KILL -- "-$pgid" 2> /dev/null || true
    wait "$pgid" 2> /dev/null || true
    echo "cleanup: stopped the background jobs of process group $pgid" >&2
  done
  [ ${#cleanup_paths[@]} -eq 0 ] || rm -rf -- "${cleanup_paths[@]}"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
