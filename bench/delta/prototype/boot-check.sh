#!/usr/bin/env bash
# Does the kernel accept the image forms the index could use? Boots Debian's kernel in QEMU
# (no NIC, no disk) with initramfs images laid out as image.mjs writes them: the
# uncompressed early-microcode archive first, then the pieces of the main archive each
# compressed alone, as (1) one gzip member with full flushes, cut inside files (hybrid,
# 16 KiB); (2) one zstd frame per piece, cut inside files; (3) one gzip member per piece,
# cut at entry boundaries only (segmented). /init prints the kernel's initramfs messages
# and the SHA-256 of the payload files; the script compares them with the files packed.
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

EARLY=$DIR/v3.early.cpio
failed=0
boot() { # FORM DESIGN
  local img=$WORK/image.$1
  "$NODE" "$HERE/image.mjs" "$EARLY" "$WORK/main.cpio" "$img" \
    --design "$2" --avg 16384 --form "$1" --repack --index "$img.idx" >/dev/null
  # The part after the early archive must unpack (all members/frames) to the repacked archive.
  local rest
  rest=$(tail -c +$(($(stat -c %s "$EARLY") + 1)) "$img" | if [ "$1" = zstd ]; then zstd -dc; else gzip -dc; fi | wc -c)
  [ "$rest" = "$(stat -c %s "$WORK/main.cpio")" ] || { echo "FAIL $1: unpacks to $rest bytes" >&2; failed=1; return; }
  timeout 900 qemu-system-x86_64 -nodefaults -nographic -no-reboot -m 768 -serial stdio \
    -kernel "$VMLINUZ" -initrd "$img" \
    -append "console=ttyS0 rdinit=/init panic=-1 loglevel=4" </dev/null >"$img.console" 2>&1 || true
  local got
  got=$(sed -n 's/^BOOT-CHECK: \(files .*\)$/\1/p' "$img.console" | tr -d '\r')
  if grep -qi 'unpacking failed\|junk' "$img.console"; then
    echo "FAIL $1: the kernel refused part of the initramfs: $(grep -i 'unpacking failed\|junk' "$img.console" | head -1)" >&2
    failed=1
  elif [ "$got" = "$expect" ]; then
    echo "OK $1 ($2): the kernel unpacked every payload file intact, $(wc -l <"$img.idx") pieces"
  else
    echo "FAIL $1: expected '$expect', got '$got'" >&2
    failed=1
  fi
}
boot flush hybrid
boot zstd hybrid
boot members segmented
exit $failed
