#!/usr/bin/env bash
# System packages the tests and benchmarks use but pip cannot install:
# wrk (bench), podman/buildah (container tests), chromium (docs rendering test).
# Best effort: a machine without apt or root skips, and the tests that need a
# missing tool skip with that reason.
set -u
want=(wrk)
[ "${1:-}" = bench ] || want+=(podman buildah runc fuse-overlayfs slirp4netns uidmap chromium)
missing=()
for pkg in "${want[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "setup-system: installing ${missing[*]}"
    apt-get update -qq >/dev/null 2>&1 || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 \
      || echo "setup-system: could not install ${missing[*]}; the tests that need them will skip"
  else
    echo "setup-system: ${missing[*]} missing and cannot be installed here; dependent tests skip"
  fi
fi
if command -v podman >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && [ ! -f /etc/containers/containers.conf ]; then
  mkdir -p /etc/containers
  printf '[containers]\ndefault_ulimits = ["nofile=10000:10000", "nproc=4096:4096"]\n[engine]\nruntime = "runc"\n' \
    > /etc/containers/containers.conf
fi
exit 0
