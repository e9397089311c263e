#!/usr/bin/env bash
# Builds homelab-test/busybox:1, the image Docker tests run, from Debian's static busybox.
# No registry is needed: the image is imported from a tarball of a tiny root filesystem.
# An image of that name is never taken on trust: it carries HOMELAB_TEST_RECIPE, a hash of this
# script and of the busybox binary, and one made another way (or by an older recipe) is rebuilt.
set -euo pipefail
IMAGE=${TEST_IMAGE:-homelab-test/busybox:1}
BUSYBOX=$(command -v busybox || true)
[ -n "$BUSYBOX" ] || { echo "busybox not found: apt-get install -y busybox-static" >&2; exit 1; }
if ! file "$BUSYBOX" 2>/dev/null | grep -q 'statically linked' && ldd "$BUSYBOX" >/dev/null 2>&1; then
  echo "$BUSYBOX is not statically linked: apt-get install -y busybox-static" >&2; exit 1
fi
recipe=$(cat "$0" "$BUSYBOX" | sha256sum | cut -c1-16)
if have=$(docker image inspect --format '{{range .Config.Env}}{{println .}}{{end}}' "$IMAGE" 2>/dev/null); then
  if printf '%s\n' "$have" | grep -qx "HOMELAB_TEST_RECIPE=$recipe"; then exit 0; fi
  echo "$IMAGE exists but was not made by this recipe ($recipe): rebuilding it" >&2
fi
rootfs=$(mktemp -d)
trap 'rm -rf "$rootfs"' EXIT
mkdir -p "$rootfs/bin" "$rootfs/tmp" "$rootfs/www" "$rootfs/etc"
cp "$BUSYBOX" "$rootfs/bin/busybox"
for app in sh sleep httpd wget echo cat ls true false test kill ps touch mkdir rm; do
  ln -s busybox "$rootfs/bin/$app"
done
echo 'root:x:0:0:root:/:/bin/sh' > "$rootfs/etc/passwd"
echo 'ok' > "$rootfs/www/index.html"
tar -C "$rootfs" -c . | docker import -c 'CMD ["/bin/sh"]' -c 'ENV PATH=/bin' -c "ENV HOMELAB_TEST_RECIPE=$recipe" - "$IMAGE" >/dev/null
echo "built $IMAGE"
