#!/usr/bin/env bash
# Runs the compiled specs (dist/, built by `npm test` just before) on the other Node release lines
# we support, so a bound or behaviour that follows a Node default shows up here, not at a user's.
# `npm test` already ran everything on the machine's Node; here each version runs every spec except
# the suites that drive external programs (they test the programs' view of our bytes, which does
# not change with the Node running the server, and they are the slow part of the run).
#
# Node comes only from the npm registry: `npm pack node-linux-<arch>@<major>` (the package the
# `node` npm package installs), unpacked once into ${XDG_CACHE_HOME:-~/.cache}/smtpwire/node-<version>
# and reused by later runs; it is fetched again only when no working copy of that major is cached.
#
#   SMTPWIRE_NODE_VERSIONS="22 24"   majors (or exact versions) to run; default: 22 24
#   SMTPWIRE_NODE_REFRESH=1          ask the registry for the newest release even when one is cached
#
# Run once, not per version (the list to extend for a new heavy suite):
#   - every spec file under a directory in ONCE_ONLY (directories of dist/spec/), and
#   - every spec whose describe/it title contains the tag `@once` (mocha --grep --invert).
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/.."

ONCE_ONLY=(interop scale)
ONCE_TAG='@once'

read -r -a versions <<<"${SMTPWIRE_NODE_VERSIONS:-22 24}"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/smtpwire"
case "$(uname -m)" in
  x86_64 | amd64) arch=x64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) echo "node-versions: no node-linux package for $(uname -m)" >&2; exit 1 ;;
esac

# Prints the version a cached copy really is (empty when it does not run).
cached_version() {
  "$1/bin/node" --version 2>/dev/null | sed 's/^v//' || true
}

# Prints the directory of a working cached Node matching $1 (a major or an exact version), if any.
find_cached() {
  local wanted=$1 dir
  for dir in $(ls -d "$cache/node-$wanted".* "$cache/node-$wanted" 2>/dev/null | sort -rV || true); do
    if [ "node-$(cached_version "$dir")" = "$(basename "$dir")" ]; then
      echo "$dir"
      return
    fi
  done
}

# Downloads node-linux-<arch>@$1 from the npm registry into the cache; prints its directory.
download() {
  local wanted=$1 work tarball version dest
  mkdir -p "$cache"
  # Unpacked inside the cache, so the final rename is atomic: a run cut short leaves no half copy.
  work=$(mktemp -d "$cache/.download.XXXXXX")
  trap 'rm -rf "$work"' RETURN
  tarball=$(cd "$work" && npm pack --silent "node-linux-$arch@$wanted" | tail -n 1)
  mkdir "$work/unpacked"
  tar -xzf "$work/$tarball" -C "$work/unpacked"
  version=$(cached_version "$work/unpacked/package")
  case "$version" in
    "$wanted" | "$wanted".*) ;;
    *) echo "node-versions: node-linux-$arch@$wanted unpacked to a node that says '$version'" >&2; return 1 ;;
  esac
  dest="$cache/node-$version"
  # Another run may have put the same version in place meanwhile: then keep that one.
  if [ "$(cached_version "$dest")" != "$version" ]; then
    rm -rf "$dest"
    mv -T "$work/unpacked/package" "$dest"
  fi
  echo "$dest"
}

[ -f dist/spec/attach.spec.js ] || { echo "node-versions: run npm test (it builds dist/) first" >&2; exit 1; }

excludes=()
for dir in "${ONCE_ONLY[@]}"; do excludes+=(--exclude "dist/spec/$dir/**"); done

failed=()
for wanted in "${versions[@]}"; do
  dir=""
  [ "${SMTPWIRE_NODE_REFRESH:-0}" = 1 ] || dir=$(find_cached "$wanted")
  if [ -z "$dir" ]; then
    echo "node-versions: fetching node-linux-$arch@$wanted from the npm registry"
    dir=$(download "$wanted")
  fi
  node="$dir/bin/node"
  echo
  echo "=== Node $("$node" --version): dist/spec without ${ONCE_ONLY[*]} and '$ONCE_TAG' specs ==="
  start=$SECONDS
  if "$node" node_modules/mocha/bin/mocha.js "${excludes[@]}" --grep "$ONCE_TAG" --invert; then
    echo "=== Node $("$node" --version): passed in $((SECONDS - start)) s ==="
  else
    echo "=== Node $("$node" --version): FAILED ==="
    failed+=("$wanted")
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "node-versions: failed on Node ${failed[*]}" >&2
  exit 1
fi
