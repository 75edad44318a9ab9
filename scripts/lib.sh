# Shared helpers for the project's scripts (sourced, not run).

# ensure_venv NAME PACKAGE... - a Python venv under $GDF_TOOLS with exactly these pinned
# packages, created on first use (a fresh machine needs only python3 and PyPI).
GDF_TOOLS="${GDF_TOOLS:-$PWD/.tools}"
ensure_venv() {
  local name=$1; shift
  local dir="$GDF_TOOLS/$name" stamp
  stamp=$(printf '%s\n' "$@" | sha256sum | cut -c1-16)
  if [ ! -f "$dir/.stamp-$stamp" ]; then
    echo "installing $* into $dir" >&2
    rm -rf "$dir"
    python3 -m venv "$dir"
    "$dir/bin/pip" install --quiet --disable-pip-version-check "$@"
    touch "$dir/.stamp-$stamp"
  fi
  echo "$dir"
}
