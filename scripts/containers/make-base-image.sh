#!/usr/bin/env bash
# Make a local stand-in for docker.io/library/python:3.11-slim when no image registry is reachable.
#
# The project's Dockerfile stays the ordinary `FROM python:3.11-slim` that users build elsewhere;
# here that name is given to an image assembled with `buildah from scratch` from the host's own
# CPython 3.11 (about 6 s, no network). It lays things out as the official image does: CPython
# under /usr/local, /bin/sh, a few coreutils the Dockerfile uses (mkdir, chown, ...; the official
# image has all of Debian's coreutils), the shared libraries `ldd` lists, and the host's CA
# bundle. SSL_CERT_FILE and PIP_CERT point pip at that bundle, because package registries are
# reached through a TLS proxy whose CA only the host trusts.
#
# Idempotent: skips when the image exists (pass --force to rebuild).
# Usage: make-base-image.sh [--force]     env: BASE_IMAGE, PYTHON (a CPython 3.11 on the host)
set -euo pipefail
name="${BASE_IMAGE:-docker.io/library/python:3.11-slim}"
python="${PYTHON:-python3.11}"
command -v "$python" >/dev/null || python=python3

if [ "${1:-}" != --force ] && podman image exists "$name"; then
  echo "make-base-image: $name exists; skipping (--force rebuilds)"; exit 0
fi
read -r prefix ver < <("$python" -c 'import sys; print(sys.base_prefix, "%d.%d" % sys.version_info[:2])')
if [ "$ver" != 3.11 ]; then
  echo "make-base-image: $python is Python $ver; a CPython 3.11 is needed (set PYTHON=...)" >&2; exit 2
fi
full=$("$python" -c 'import platform; print(platform.python_version())')
start=$SECONDS

ctr=$(buildah from scratch)
trap 'buildah rm "$ctr" >/dev/null 2>&1 || true' EXIT
mnt=$(buildah mount "$ctr")
mkdir -p "$mnt"/{bin,etc,tmp,root,usr/local/bin,usr/local/lib,usr/bin,usr/sbin,etc/ssl/certs}
chmod 1777 "$mnt/tmp"; chmod 700 "$mnt/root"

# CPython: the stdlib without its tests, GUI modules and static library; of site-packages only
# pip and setuptools (what the official image ships), not the host's own packages.
tar -C "$prefix/lib" \
  --exclude='python3.11/test' --exclude='python3.11/idlelib' --exclude='python3.11/tkinter' \
  --exclude='python3.11/turtledemo' --exclude='python3.11/lib-dynload/_tkinter*' --exclude='*.a' \
  --exclude='python3.11/site-packages' -cf - python3.11 | tar -C "$mnt/usr/local/lib" -xf -
mkdir -p "$mnt/usr/local/lib/python3.11/site-packages"
for pkg in "$prefix"/lib/python3.11/site-packages/{pip,pip-*.dist-info,setuptools,setuptools-*.dist-info,pkg_resources,_distutils_hack,distutils-precedence.pth}; do
  [ -e "$pkg" ] && cp -a "$pkg" "$mnt/usr/local/lib/python3.11/site-packages/"
done
cp -a "$prefix"/lib/libpython3* "$mnt/usr/local/lib/"
cp "$prefix/bin/python3.11" "$mnt/usr/local/bin/python3.11"
ln -s python3.11 "$mnt/usr/local/bin/python3"; ln -s python3.11 "$mnt/usr/local/bin/python"
printf '#!/bin/sh\nexec /usr/local/bin/python3.11 -m pip "$@"\n' > "$mnt/usr/local/bin/pip"
chmod 755 "$mnt/usr/local/bin/pip"; ln -s pip "$mnt/usr/local/bin/pip3"

# A shell and the few coreutils the Dockerfile and a preStop hook use.
cp /bin/dash "$mnt/bin/dash"; ln -s dash "$mnt/bin/sh"
tools=(cat chmod chown cp env id ln ls mkdir mv rm sleep touch true)
for t in "${tools[@]}"; do cp "$(type -P "$t")" "$mnt/bin/$t"; done
ln -s /bin/env "$mnt/usr/bin/env"

# Every shared library those binaries and the stdlib's extension modules load, plus all of
# glibc (libpthread, libdl, librt...), the C++ runtime and zlib: manylinux wheels (rpds,
# onnxruntime, scikit-learn) expect those from the system, as the official image provides.
libs=$( { ldd "$prefix/bin/python3.11"; ldd /bin/dash; for t in "${tools[@]}"; do ldd "$mnt/bin/$t"; done
          find "$mnt/usr/local/lib/python3.11/lib-dynload" -name '*.so' -exec ldd {} \; ; } 2>/dev/null \
        | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' | grep -v "^$prefix" | sort -u)
extra=$(dpkg -L libc6 libgcc-s1 libstdc++6 zlib1g 2>/dev/null \
        | grep -E '^/(usr/)?lib/x86_64-linux-gnu/[^/]+\.so[.0-9]*$' || true)
for lib in $libs $extra; do
  real=$(readlink -f "$lib")
  mkdir -p "$mnt$(dirname "$lib")" "$mnt$(dirname "$real")"
  [ -e "$mnt$real" ] || cp "$real" "$mnt$real"
  [ "$real" = "$lib" ] || [ -e "$mnt$lib" ] || ln -s "$real" "$mnt$lib"
done
printf '/usr/local/lib\n/lib/x86_64-linux-gnu\n/usr/lib/x86_64-linux-gnu\n' > "$mnt/etc/ld.so.conf"
ldconfig -r "$mnt"

cp /etc/ssl/certs/ca-certificates.crt "$mnt/etc/ssl/certs/ca-certificates.crt"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n' > "$mnt/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$mnt/etc/group"
buildah umount "$ctr" >/dev/null

ca=/etc/ssl/certs/ca-certificates.crt
buildah config --env PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin \
  --env LANG=C.UTF-8 --env PYTHON_VERSION="$full" --env SSL_CERT_FILE=$ca --env PIP_CERT=$ca \
  --cmd python3 --label org.opencontainers.image.description="local stand-in for python:3.11-slim (host CPython $full)" \
  "$ctr"
buildah commit --quiet --rm "$ctr" "$name" >/dev/null
trap - EXIT
size=$(podman image inspect --format '{{.Size}}' "$name")
echo "make-base-image: $name from CPython $full ($((size / 1000000)) MB) in $((SECONDS - start)) s"
