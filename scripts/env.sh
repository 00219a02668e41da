# The environment scripts/setup and scripts/check share, sourced by both: where the caches are,
# cargo's settings, the pinned cargo tools and the `step` heading. It only sets variables and
# defines `step`; it reads nothing of the script that sources it.
# shellcheck shell=bash

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# Everything installed or built for the tests lives outside the clone: a fresh clone reuses it.
cache=${EKS_ROLE_MAPPER_CACHE:-$HOME/.cache/eks-role-mapper}
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
# Compiled dependencies outlive the clone: a fresh clone (CI's) reuses what an earlier run built.
# Only the workspace's own crates build again (their fingerprints hold the clone's path).
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/eks-role-mapper/target}
case $CARGO_TARGET_DIR in /*) ;; *) CARGO_TARGET_DIR=$root/$CARGO_TARGET_DIR ;; esac
# No incremental caches: a test run builds each crate once, and they grow to 9 GB for this workspace.
export CARGO_INCREMENTAL=0
# cargo-lambda and zig for infra/build live outside the clone too (see infra/build).
export EKS_ROLE_MAPPER_BUILD_VENV=${EKS_ROLE_MAPPER_BUILD_VENV:-$HOME/.cache/eks-role-mapper/venv-build}
# The Python venvs, named by their pins' hash (scripts/setup links .venv and .venv-checkov to them).
venv_cache=$cache/venvs
# The pinned cargo subcommands: NAME VERSION each, installed once into $cache/tools/NAME-VERSION.
cargo_tools=("cargo-deny 0.20.2")
cargo_tool_dir() { printf '%s/tools/%s-%s' "$cache" "$1" "$2"; }

# The steps' times count from scripts/test's start when it runs both parts.
started=${EKS_ROLE_MAPPER_STARTED:-$(date +%s)}
step() { printf '\n== %s (at %ds)\n' "$*" "$(($(date +%s) - started))"; }
