# Sourced by the scripts that run the package under other Node binaries: node_binary VERSION DIR
# [ARCH] prints the folder of the official Node VERSION for ARCH (default: this machine's; the
# npm registry's node-linux-<arch> package), fetched into DIR once and reused after.
node_binary() {
  local version=$1 cache=$2 arch=${3:-} dir work
  [ -n "$arch" ] || arch=$(node -p 'process.arch')
  dir=$cache/node-linux-$arch-$version
  if [ ! -x "$dir/bin/node" ]; then
    echo "fetching node-linux-$arch@$version" >&2
    [ -n "$version" ] || { echo "node_binary: no version given" >&2; return 1; }
    work=$(mktemp -d)
    # Called in $(...), where errexit does not reach: every step returns on failure.
    (cd "$work" && npm pack --silent "node-linux-$arch@$version" > /dev/null) || { rm -rf "$work"; return 1; }
    rm -rf "$dir.part"
    mkdir -p "$dir.part"
    tar xzf "$work"/node-linux-*.tgz -C "$dir.part" --strip-components=1 || { rm -rf "$work" "$dir.part"; return 1; }
    rm -rf "$work" "$dir"
    mv "$dir.part" "$dir"
  fi
  echo "$dir"
}

# newest_node LINE [ARCH] prints the newest release of a Node line (22, 24, ...) that the npm
# registry has as node-linux-<arch>; the registry lists versions in publishing order, not by
# number, so they are compared here.
newest_node() {
  local line=$1 arch=${2:-}
  [ -n "$arch" ] || arch=$(node -p 'process.arch')
  npm view "node-linux-$arch@$line" version --json 2> /dev/null | node -e '
    const data = JSON.parse(require("fs").readFileSync(0, "utf8") || "[]");
    const versions = (Array.isArray(data) ? data : [data]).map((v) => v.split(".").map(Number));
    versions.sort((a, b) => a[0] - b[0] || a[1] - b[1] || a[2] - b[2]);
    if (versions.length) console.log(versions.at(-1).join("."));'
}
