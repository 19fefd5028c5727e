#!/usr/bin/env bash
# Make podman and buildah usable on a Debian machine without a Docker engine or an image registry.
#
# Idempotent: installs only what is missing, writes the engine config only when absent.
# Exits 0 when podman works at the end, 2 when it cannot be set up here (no apt, not root,
# install refused) so callers (tests, make) can skip with the printed reason.
#
# Why the config: on these machines root cannot raise its open-file limit (podman's default
# ulimits fail) and crun refuses the cgroup layout, so containers run with runc and explicit
# ulimits. Set CONTAINERS_CONF to a file to keep /etc untouched; this script writes to it.
set -u
conf="${CONTAINERS_CONF:-/etc/containers/containers.conf}"
want=(podman buildah runc fuse-overlayfs slirp4netns uidmap)

missing=()
for pkg in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "setup-podman: ${missing[*]} missing and apt-get is not available" >&2; exit 2
  fi
  if [ "$(id -u)" != 0 ]; then
    echo "setup-podman: ${missing[*]} missing and installing needs root" >&2; exit 2
  fi
  echo "setup-podman: installing ${missing[*]}"
  apt-get update -qq >/dev/null 2>&1 || true
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/tmp/setup-podman-apt.log 2>&1; then
    echo "setup-podman: apt-get install ${missing[*]} failed (see /tmp/setup-podman-apt.log)" >&2; exit 2
  fi
fi

if [ ! -s "$conf" ]; then
  mkdir -p "$(dirname "$conf")" || { echo "setup-podman: cannot create $(dirname "$conf")" >&2; exit 2; }
  cat > "$conf" <<'CONF'
[containers]
default_ulimits = ["nofile=10000:10000", "nproc=4096:4096"]
[engine]
runtime = "runc"
CONF
  echo "setup-podman: wrote $conf"
fi

if ! out=$(podman info --format '{{.Store.GraphDriverName}}' 2>&1); then
  echo "setup-podman: podman is installed but does not run: $out" >&2; exit 2
fi
echo "setup-podman: podman $(podman version --format '{{.Client.Version}}' 2>/dev/null) ready (storage: $out)"
