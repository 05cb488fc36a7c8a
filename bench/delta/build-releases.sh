#!/usr/bin/env bash
# Builds three consecutive releases (v1, v2, v3) of a KubeSolo-OS-like initramfs from real
# Debian bookworm packages, deterministically, for the delta-update measurements of issue
# 26 (bench/delta/FINDINGS.md says what was measured on them).
#
#   bench/delta/build-releases.sh fetch     # apt lists + every version of every package
#   bench/delta/build-releases.sh plan      # pick a version per package per release
#   bench/delta/build-releases.sh build     # v1, v2, v3: cpio, gzip -9, gzip --rsyncable
#   bench/delta/build-releases.sh check     # build again elsewhere, compare the bytes
#   bench/delta/build-releases.sh all       # fetch, plan, build
#   DELTA_HOLD_KERNEL=1 bench/delta/build-releases.sh build   # same, v1's kernel throughout
#
# Everything goes under $DELTA_CACHE (default .tmp/delta-cache, gitignored): a private apt
# configuration (the system's sources are not touched), the .deb files, the release trees
# and images. The plan actually measured is committed as bench/delta/plan.tsv; `build`
# uses it when `plan` has not been run (`DELTA_PLAN=FILE` names another), so the images
# can be rebuilt byte for byte as long as the mirror (or the cache) still has the .debs.
#
# Release rule (see FINDINGS.md): every version the mirror offers for a package (bookworm,
# bookworm-updates, bookworm-security) is dated by its build (the .deb's ar member mtime,
# which dpkg-deb sets from SOURCE_DATE_EPOCH, the changelog date). A release at date T
# holds, per package, the newest-dated version built at or before T (the oldest offered
# when none is). v3 is at the newest date seen, v2 and v1 one and two cadences earlier
# (DELTA_CADENCE_DAYS, default 45: with 30, v2->v3 would change only the kernel and three small
# libraries; with 45 it also moves openssl, tzdata, ca-certificates and a Go binary, git-lfs).
#
# Image layout, as the kernel reads it: an uncompressed cpio with the CPU microcode first
# (kernel/x86/microcode/*.bin, the early-microcode archive), then the main cpio. Both newc,
# LC_ALL=C-sorted paths (parents before children), owner 0:0, GNU cpio --reproducible
# (inode numbers counted from 1 in archive order, device numbers 0), mtimes clamped to the
# release's SOURCE_DATE_EPOCH (its newest package date). Outputs per release vN:
#   vN.cpio           early + main, uncompressed (the pair the per-pair diffs run on)
#   vN.early.cpio     the early archive alone;  vN.main.cpio  the main archive alone
#   vN.gz             early + gzip -9 main           (an ordinary image)
#   vN.rsyncable.gz   early + gzip -9 --rsyncable main
#   vN.packages.tsv   package, version, size of the unpacked files
set -euo pipefail
export LC_ALL=C

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
CACHE=${DELTA_CACHE:-$REPO/.tmp/delta-cache}
CADENCE_DAYS=${DELTA_CADENCE_DAYS:-45}
PACKAGES=$HERE/packages.txt
KERNEL_PATTERN='^linux-image-6\.1\.0-[0-9]+-amd64$'

APTDIR=$CACHE/apt
DEBS=$CACHE/debs
if [ "${DELTA_HOLD_KERNEL:-0}" = 1 ]; then OUT=${DELTA_OUT:-$CACHE/releases-kernel-held}
else OUT=${DELTA_OUT:-$CACHE/releases}; fi
APT_OPTS=(
  -o "Dir::Etc::sourcelist=$APTDIR/sources.list" -o Dir::Etc::sourceparts=-
  -o "Dir::State::Lists=$APTDIR/lists" -o "Dir::Cache=$APTDIR/cache"
  -o APT::Get::List-Cleanup=0 -o APT::Sandbox::User=root
)

log() { printf '%s\n' "$*" >&2; }

# Lines of packages.txt as "section package".
package_lines() {
  awk '/^\[/{gsub(/[][]/,""); s=$0; next} /^[ \t]*(#|$)/{next} {print s, $1}' "$PACKAGES"
}

# The names a line stands for: the kernel line stands for every ABI the mirror offers.
names_for() {
  if [[ $1 == *ABI* ]]; then
    apt-cache "${APT_OPTS[@]}" pkgnames linux-image-6.1.0- | grep -E "$KERNEL_PATTERN" | sort -V
  else
    echo "$1"
  fi
}

# Version strings the mirror offers for a package, one a line, deduplicated.
versions_of() {
  apt-cache "${APT_OPTS[@]}" madison "$1" | awk -F'|' '{gsub(/ /,"",$2); print $2}' | sort -u
}

# The file apt-get download writes for PACKAGE=VERSION (the epoch colon is %3a).
deb_file() {
  local arch
  arch=$(apt-cache "${APT_OPTS[@]}" show "$1=$2" | awk '/^Architecture:/{print $2; exit}')
  echo "${1}_${2//:/%3a}_${arch}.deb"
}

# Build date of a .deb: the mtime field of its first ar member header (bytes 24..35).
deb_epoch() {
  dd if="$1" bs=1 skip=24 count=12 status=none | tr -d ' '
}

cmd_fetch() {
  mkdir -p "$APTDIR/lists/partial" "$APTDIR/cache/archives/partial" "$DEBS"
  local sources=$APTDIR/sources.list
  local key=/usr/share/keyrings/debian-archive-keyring.gpg
  {
    echo "deb [signed-by=$key] http://deb.debian.org/debian bookworm main non-free-firmware"
    echo "deb [signed-by=$key] http://deb.debian.org/debian bookworm-updates main non-free-firmware"
    echo "deb [signed-by=$key] http://deb.debian.org/debian-security bookworm-security main non-free-firmware"
  } >"$sources"
  apt-get "${APT_OPTS[@]}" update >&2
  local inventory=$CACHE/inventory.tsv
  : >"$inventory.new"
  local section line name version file
  while read -r section line; do
    for name in $(names_for "$line"); do
      for version in $(versions_of "$name"); do
        file=$(deb_file "$name" "$version")
        if [ ! -s "$DEBS/$file" ]; then
          log "download $name=$version"
          (cd "$DEBS" && apt-get "${APT_OPTS[@]}" download "$name=$version" >/dev/null)
        fi
        printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$section" "$line" "$name" "$version" \
          "$(deb_epoch "$DEBS/$file")" "$file" >>"$inventory.new"
      done
    done
  done < <(package_lines)
  mv "$inventory.new" "$inventory"
  log "inventory: $(wc -l <"$inventory") versions in $inventory"
}

cmd_plan() {
  local inventory=$CACHE/inventory.tsv
  [ -s "$inventory" ] || { log "no $inventory: run fetch first"; exit 2; }
  local t3
  t3=$(cut -f5 "$inventory" | sort -n | tail -1)
  local plan=$CACHE/plan.tsv
  {
    printf '# release\tsection\tline\tpackage\tversion\tbuild_epoch\tsha256\tfile\n'
    local r t
    for r in 1 2 3; do
      t=$((t3 - (3 - r) * CADENCE_DAYS * 86400))
      # Per line: the newest-dated version built at or before t, else the oldest offered.
      sort -t$'\t' -k2,2 -k5,5n "$inventory" | awk -F'\t' -v t="$t" -v r="v$r" '
        { if (!($2 in first)) first[$2] = $0
          if ($5 <= t) best[$2] = $0
          order[$2] = 1 }
        END { for (l in order) { row = (l in best) ? best[l] : first[l]; print r "\t" row } }'
    done | sort -t$'\t' -k1,1 -k2,2 -k3,3 | while IFS=$'\t' read -r rel section line name version epoch file; do
      printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$rel" "$section" "$line" "$name" "$version" \
        "$epoch" "$(sha256sum "$DEBS/$file" | cut -d' ' -f1)" "$file"
    done
  } >"$plan"
  cp "$plan" "$HERE/plan.tsv"
  log "plan: $plan (copied to bench/delta/plan.tsv)"
}

# Files an initramfs does not carry (documentation, manuals, translations).
STRIP_PATHS=(usr/share/doc usr/share/man usr/share/info usr/share/locale usr/share/lintian
  usr/share/bug usr/share/bash-completion usr/share/zsh usr/share/fish)

plan_file() {
  if [ -n "${DELTA_PLAN:-}" ]; then echo "$DELTA_PLAN"
  elif [ -s "$CACHE/plan.tsv" ]; then echo "$CACHE/plan.tsv"
  else echo "$HERE/plan.tsv"; fi
}

# Rows of the plan for release $1: "section line package version epoch sha256 file".
# DELTA_HOLD_KERNEL=1 keeps v1's kernel in every release (a release that changes only the
# userland; its outputs go to releases-kernel-held unless DELTA_OUT says otherwise).
plan_rows() {
  awk -F'\t' -v r="$1" -v hold="${DELTA_HOLD_KERNEL:-0}" '
    /^#/ { next }
    hold == 1 && $2 == "kernel" { if ($1 == "v1") print $2, $3, $4, $5, $6, $7, $8; next }
    $1 == r { print $2, $3, $4, $5, $6, $7, $8 }' "$(plan_file)"
}

# A .deb of the plan, checked against the plan's SHA-256 (fetched again if missing).
deb_checked() {
  local name=$1 version=$2 sha=$3 file=$4
  if [ ! -s "$DEBS/$file" ]; then
    mkdir -p "$DEBS"
    (cd "$DEBS" && apt-get "${APT_OPTS[@]}" download "$name=$version" >/dev/null)
  fi
  echo "$sha  $DEBS/$file" | sha256sum -c --quiet - >&2 || { log "$file: SHA-256 differs from the plan"; exit 1; }
  echo "$DEBS/$file"
}

# Unpack a release's packages into $2/early and $2/main; write its package list to $3.
unpack_release() {
  local rel=$1 tree=$2 list=$3 section line name version epoch sha file deb
  rm -rf "$tree"
  mkdir -p "$tree/early" "$tree/main" "$tree/unpack"
  printf 'section\tpackage\tversion\tbuild_date\tunpacked_bytes\n' >"$list"
  while read -r section line name version epoch sha file; do
    deb=$(deb_checked "$name" "$version" "$sha" "$file")
    local u=$tree/unpack/$name
    mkdir -p "$u"
    dpkg-deb -x "$deb" "$u"
    local p
    for p in "${STRIP_PATHS[@]}"; do rm -rf "${u:?}/$p"; done
    case $section in
      kernel) rm -rf "$u/boot" "$u/usr" ;; # vmlinuz is a separate image
    esac
    printf '%s\t%s\t%s\t%s\t%s\n' "$section" "$name" "$version" \
      "$(date -u -d "@$epoch" +%F)" "$(du -sb --apparent-size "$u" | cut -f1)" >>"$list"
    case $section in
      early) # the early-microcode archive: one blob per vendor, files in sorted order
        mkdir -p "$tree/early/kernel/x86/microcode"
        if [ -d "$u/lib/firmware/intel-ucode" ]; then
          find "$u/lib/firmware/intel-ucode" -type f | sort | xargs cat \
            >"$tree/early/kernel/x86/microcode/GenuineIntel.bin"
        fi
        if [ -d "$u/lib/firmware/amd-ucode" ]; then
          find "$u/lib/firmware/amd-ucode" -type f -name 'microcode_amd*.bin' | sort | xargs cat \
            >"$tree/early/kernel/x86/microcode/AuthenticAMD.bin"
        fi
        ;;
      *) # later packages overwrite earlier ones, in the plan's (sorted) order
        cp -a "$u/." "$tree/main/" ;;
    esac
    rm -rf "$u"
  done < <(plan_rows "$rel")
  rmdir "$tree/unpack"
}

# What the build adds: /init, the busybox applet links, an os-release naming the release.
add_release_files() {
  local rel=$1 main=$2
  mkdir -p "$main/etc" "$main/proc" "$main/sys" "$main/dev" "$main/run" "$main/tmp" "$main/var/lib/kubesolo"
  printf '#!/bin/busybox sh\n# KubeSolo-OS-like test image %s (bench/delta); not meant to boot.\nexec /bin/busybox sh\n' \
    "$rel" >"$main/init"
  chmod 0755 "$main/init"
  printf 'NAME="KubeSolo OS (delta bench)"\nID=kubesolo\nVERSION_ID=%s\n' "$rel" >"$main/etc/os-release"
  local applet
  for applet in $("$main/bin/busybox" --list-full); do
    [ -e "$main/$applet" ] || [ -L "$main/$applet" ] || { mkdir -p "$main/$(dirname "$applet")"; ln -s /bin/busybox "$main/$applet"; }
  done
}

# Clamp every mtime to $2 (SOURCE_DATE_EPOCH), then write a sorted, root-owned newc cpio.
pack_cpio() {
  local dir=$1 sde=$2 out=$3
  find "$dir" -depth -newermt "@$sde" -print0 | xargs -0r touch -h -d "@$sde"
  (cd "$dir" && find . -print0 | sort -z | cpio --null --quiet -o -H newc -R 0:0 --reproducible) >"$out"
}

build_release() {
  local rel=$1 dest=$2
  local tree=$dest/$rel.tree
  log "build $rel"
  unpack_release "$rel" "$tree" "$dest/$rel.packages.tsv"
  add_release_files "$rel" "$tree/main"
  local sde
  sde=$(plan_rows "$rel" | awk '{ if ($5 > m) m = $5 } END { print m }')
  pack_cpio "$tree/early" "$sde" "$dest/$rel.early.cpio"
  pack_cpio "$tree/main" "$sde" "$dest/$rel.main.cpio"
  cat "$dest/$rel.early.cpio" "$dest/$rel.main.cpio" >"$dest/$rel.cpio"
  gzip -9 -n -c "$dest/$rel.main.cpio" | cat "$dest/$rel.early.cpio" - >"$dest/$rel.gz"
  gzip -9 -n --rsyncable -c "$dest/$rel.main.cpio" | cat "$dest/$rel.early.cpio" - >"$dest/$rel.rsyncable.gz"
  rm -rf "$tree"
  log "$rel: $(stat -c %s "$dest/$rel.cpio") bytes cpio, $(stat -c %s "$dest/$rel.gz") gzip -9, $(stat -c %s "$dest/$rel.rsyncable.gz") rsyncable"
}

cmd_build() {
  [ "$(id -u)" = 0 ] || log "warning: not root; dpkg-deb -x cannot keep owners (cpio -R 0:0 sets them anyway)"
  mkdir -p "$OUT"
  log "plan: $(plan_file)"
  local rel
  for rel in v1 v2 v3; do build_release "$rel" "$OUT"; done
  (cd "$OUT" && sha256sum v?.cpio v?.gz v?.rsyncable.gz >SHA256SUMS)
  cat "$OUT/SHA256SUMS" >&2
}

# Build again into a fresh directory and compare every output byte for byte.
cmd_check() {
  [ -s "$OUT/SHA256SUMS" ] || { log "no $OUT/SHA256SUMS: run build first"; exit 2; }
  local again=$CACHE/releases-again
  rm -rf "$again"
  DELTA_OUT=$again "$0" build
  if diff "$OUT/SHA256SUMS" "$again/SHA256SUMS" >&2; then
    log "deterministic: the second build is byte-identical"
    rm -rf "$again"
  else
    log "NOT deterministic: $again differs"
    exit 1
  fi
}

# (The whole script is read before main runs, so editing it meanwhile is harmless.)
main() {
  case ${1:-} in
    fetch) cmd_fetch ;;
    plan) cmd_plan ;;
    build) cmd_build ;;
    check) cmd_check ;;
    all) cmd_fetch && cmd_plan && cmd_build ;;
    *) sed -n '6,11p' "$0" >&2; exit 2 ;;
  esac
}
main "$@"; exit $?
