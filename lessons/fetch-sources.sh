#!/usr/bin/env bash
# Download the exact package versions the lessons cite (from stacks.yaml, via
# `dispel lessons packages`), unpack each once into CACHE/<name>-<version>/,
# then check every lesson trace against them with `dispel lessons verify-refs`.
#
#   lessons/fetch-sources.sh [--no-verify] [CACHE_DIR]
#
# CACHE_DIR defaults to ${DISPEL_SOURCES:-$HOME/.cache/dispel-sources}.
# PyPI packages: `pip download --no-deps NAME==VERSION` (a wheel if there is
# one, else the sdist), unpacked so the import packages are at the root.
# npm packages: `npm pack NAME@VERSION`, whose package/ becomes the root.
# Idempotent: a package already unpacked (marked .complete) is not fetched
# again. Set DISPEL to a dispel binary to skip `cargo run`, and
# DISPEL_LESSONS to a course directory instead of the bundled course.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

verify=1
if [[ "${1:-}" == "--no-verify" ]]; then
  verify=0
  shift
fi
cache="${1:-${DISPEL_SOURCES:-$HOME/.cache/dispel-sources}}"
mkdir -p "$cache"
cache="$(cd "$cache" && pwd)"

dispel() {
  if [[ -n "${DISPEL:-}" ]]; then
    "$DISPEL" "$@"
  else
    cargo run --quiet --manifest-path "$root/Cargo.toml" -- "$@"
  fi
}

fetch_pypi() { # name version dest tmp
  local name="$1" version="$2" dest="$3" tmp="$4"
  if ! python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$tmp" "$name==$version" 2>/dev/null; then
    python3 -m pip download --quiet --no-deps --no-binary=:all: --no-build-isolation -d "$tmp" "$name==$version"
  fi
  local file
  file="$(find "$tmp" -maxdepth 1 -type f \( -name '*.whl' -o -name '*.tar.gz' -o -name '*.zip' \) | head -n1)"
  [[ -n "$file" ]] || { echo "fetch-sources: no file downloaded for $name $version" >&2; return 1; }
  mkdir -p "$tmp/x"
  case "$file" in
    *.whl | *.zip) python3 -m zipfile -e "$file" "$tmp/x" ;;
    *.tar.gz) tar -xzf "$file" -C "$tmp/x" ;;
  esac
  local top="$tmp/x"
  if [[ "$file" != *.whl ]]; then
    # An sdist: NAME-VERSION/ holding either src/ or the packages themselves.
    top="$(find "$tmp/x" -mindepth 1 -maxdepth 1 -type d | head -n1)"
    [[ -d "$top/src" ]] && top="$top/src"
  fi
  mv "$top" "$dest"
}

fetch_npm() { # name version dest tmp
  local name="$1" version="$2" dest="$3" tmp="$4"
  (cd "$tmp" && npm pack --silent "$name@$version" >/dev/null)
  local file
  file="$(find "$tmp" -maxdepth 1 -name '*.tgz' | head -n1)"
  [[ -n "$file" ]] || { echo "fetch-sources: npm pack gave nothing for $name $version" >&2; return 1; }
  tar -xzf "$file" -C "$tmp"
  mv "$tmp/package" "$dest"
}

lessons=()
[[ -n "${DISPEL_LESSONS:-}" ]] && lessons=(--lessons "$DISPEL_LESSONS")
packages="$(dispel lessons packages "${lessons[@]}")"
while read -r registry name version; do
  [[ -n "${registry:-}" ]] || continue
  dest="$cache/$name-$version"
  if [[ -f "$dest/.complete" ]]; then
    continue
  fi
  rm -rf "$dest"
  tmp="$(mktemp -d)"
  echo "fetch-sources: $registry $name $version" >&2
  case "$registry" in
    pypi) fetch_pypi "$name" "$version" "$dest" "$tmp" ;;
    npm) fetch_npm "$name" "$version" "$dest" "$tmp" ;;
    *) echo "fetch-sources: unknown registry $registry" >&2; exit 2 ;;
  esac
  touch "$dest/.complete"
  rm -rf "$tmp"
done <<< "$packages"

if ((verify)); then
  dispel lessons verify-refs --sources "$cache" "${lessons[@]}"
fi
