# Sourced by the scripts that run the package under other Node binaries: node_binary VERSION DIR
# prints the folder of the official Node VERSION for this machine's architecture (the npm
# registry's node-linux-<arch> package), fetched into DIR once and reused after.
node_binary() {
  local version=$1 cache=$2 arch dir work
  arch=$(node -p 'process.arch')
  dir=$cache/node-linux-$arch-$version
  if [ ! -x "$dir/bin/node" ]; then
    echo "fetching node-linux-$arch@$version" >&2
    work=$(mktemp -d)
    (cd "$work" && npm pack --silent "node-linux-$arch@$version" > /dev/null)
    mkdir -p "$dir"
    tar xzf "$work"/node-linux-*.tgz -C "$dir" --strip-components=1
    rm -rf "$work"
  fi
  echo "$dir"
}
