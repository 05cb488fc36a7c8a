#!/usr/bin/env bash
# Does the kernel accept the image form the index wants? Boots Debian's kernel in QEMU (no
# NIC, no disk) with an initramfs laid out as image.mjs writes it: the uncompressed
# early-microcode archive first, then ONE gzip member whose deflate stream is pieces
# compressed alone with full flushes, cut inside files (hybrid, 16 KiB). /init prints the
# kernel's initramfs messages and the SHA-256 of the payload files; the script compares
# them with the files packed.
#   bench/delta/prototype/boot-check.sh RELEASES_DIR KERNEL_DEB
# Tools: qemu-system-x86_64, busybox-static (/bin/busybox), cpio, the pinned node.
set -euo pipefail
export LC_ALL=C
DIR=${1:?RELEASES_DIR}
DEB=${2:?linux-image .deb}
HERE=$(cd "$(dirname "$0")" && pwd)
NODE=$(cd "$HERE/../../.." && pwd)/node_modules/.bin/node
WORK=$DIR/boot-check
rm -rf "$WORK" && mkdir -p "$WORK/kernel" "$WORK/root/bin" "$WORK/root/payload"

dpkg-deb -x "$DEB" "$WORK/kernel"
VMLINUZ=$(ls "$WORK"/kernel/boot/vmlinuz-*)

cp /bin/busybox "$WORK/root/bin/busybox"
# Payload: files larger than the pieces, so cuts fall inside them, and many small ones.
head -c 3000000 /dev/urandom >"$WORK/root/payload/random.bin"
cp "$(ls "$WORK"/kernel/lib/modules/*/kernel/fs/ext4/ext4.ko)" "$WORK/root/payload/ext4.ko"
cp -r "$WORK"/kernel/lib/modules/*/kernel/net/netfilter "$WORK/root/payload/"
cat >"$WORK/root/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox mkdir -p /proc
/bin/busybox mount -t proc proc /proc
echo "BOOT-CHECK: initramfs messages:"
/bin/busybox dmesg | /bin/busybox grep -i -E 'initramfs|unpack|microcode' || true
cd /payload && /bin/busybox find . -type f | /bin/busybox sort | /bin/busybox xargs /bin/busybox sha256sum >/sums
echo "BOOT-CHECK: files $(/bin/busybox wc -l </sums) sums $(/bin/busybox sha256sum </sums)"
/bin/busybox poweroff -f
EOF
chmod 0755 "$WORK/root/init"
(cd "$WORK/root/payload" && find . -type f | sort | xargs sha256sum) >"$WORK/sums"
expect="files $(wc -l <"$WORK/sums") sums $(sha256sum <"$WORK/sums")"

(cd "$WORK/root" && find . -print0 | sort -z | cpio --null --quiet -o -H newc -R 0:0 --reproducible) >"$WORK/main.cpio"
"$NODE" "$HERE/image.mjs" "$DIR/v3.early.cpio" "$WORK/main.cpio" "$WORK/image.gz" \
  --design hybrid --avg 16384 --repack --index "$WORK/image.idx"
# The gzip part alone must be a valid gzip file that unpacks to the repacked archive.
tail -c +$(($(stat -c %s "$DIR/v3.early.cpio") + 1)) "$WORK/image.gz" | gzip -t

timeout 600 qemu-system-x86_64 -nodefaults -nographic -no-reboot -m 768 -serial stdio \
  -kernel "$VMLINUZ" -initrd "$WORK/image.gz" \
  -append "console=ttyS0 rdinit=/init panic=-1 quiet loglevel=4" </dev/null | tee "$WORK/console.log" | grep BOOT-CHECK -A4 || true
got=$(sed -n 's/^BOOT-CHECK: \(files .*\)\r\?$/\1/p' "$WORK/console.log" | tr -d '\r')
if grep -qi 'unpacking failed\|junk' "$WORK/console.log"; then
  echo "FAIL: the kernel refused part of the initramfs" >&2
  exit 1
fi
if [ "$got" = "$expect" ]; then
  echo "OK: the kernel unpacked every payload file intact ($(wc -l <"$WORK/image.idx") pieces)"
else
  echo "FAIL: expected '$expect', got '$got'" >&2
  exit 1
fi
