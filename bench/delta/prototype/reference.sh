#!/usr/bin/env bash
# The reference rows of issue 26 on the releases build-releases.sh made:
#   xdelta3 -9 -B <size> and zstd --long=31 --patch-from on the uncompressed cpio pairs
#   (v2->v3, v1->v3; patch bytes, encode and decode time and peak RSS, decode checked);
#   casync blob mode on the uncompressed cpio, 64 KiB and 16 KiB average chunks (chunks of
#   the new image missing from the old one's store, plus its index; one GET per chunk).
#   bench/delta/prototype/reference.sh [RELEASES_DIR] > reference.tsv
# Tools: xdelta3, zstd, casync, GNU time (Debian packages xdelta3, zstd, casync, time).
# Runs one heavy job at a time; prints the load average beside every timing.
set -euo pipefail
export LC_ALL=C
DIR=${1:-.tmp/delta-cache/releases}
WORK=$DIR/reference
mkdir -p "$WORK"
for tool in xdelta3 zstd casync /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "missing tool: $tool" >&2; exit 2; }
done

size() { stat -c %s "$1"; }
load() { cut -d' ' -f1 /proc/loadavg; }

# Run a command under GNU time; print "seconds<TAB>peak_rss_kib<TAB>load_before".
timed() {
  local l
  l=$(load)
  /usr/bin/time -f '%e\t%M' -o "$WORK/time.txt" "$@" >/dev/null
  printf '%s\t%s\n' "$(cat "$WORK/time.txt")" "$l"
}

printf 'tool\tpair\tbytes\tencode_s\tencode_rss_kib\tload\tdecode_s\tdecode_rss_kib\tload\n'
for pair in v2:v3 v1:v3; do
  old=$DIR/${pair%:*}.cpio new=$DIR/${pair#*:}.cpio
  B=$(size "$old")
  B=$(( (B > $(size "$new") ? B : $(size "$new")) ))

  patch=$WORK/${pair/:/-}.xdelta3
  enc=$(timed xdelta3 -9 -f -B "$B" -e -s "$old" "$new" "$patch")
  dec=$(timed xdelta3 -f -B "$B" -d -s "$old" "$patch" "$WORK/out")
  cmp -s "$WORK/out" "$new" || { echo "xdelta3 $pair: decoded image differs" >&2; exit 1; }
  printf 'xdelta3 -9 -B %s\t%s\t%s\t%s\t%s\n' "$B" "${pair/:/->}" "$(size "$patch")" "$enc" "$dec"

  for level in 3 19; do
    patch=$WORK/${pair/:/-}.$level.zst
    enc=$(timed zstd -q -f -T1 -$level --long=31 --patch-from="$old" "$new" -o "$patch")
    dec=$(timed zstd -q -f -d --long=31 --memory=2048MB --patch-from="$old" "$patch" -o "$WORK/out")
    cmp -s "$WORK/out" "$new" || { echo "zstd $pair: decoded image differs" >&2; exit 1; }
    printf 'zstd -%s --long=31 --patch-from\t%s\t%s\t%s\t%s\n' "$level" "${pair/:/->}" "$(size "$patch")" "$enc" "$dec"
  done
  rm -f "$WORK/out"
done

# casync: one store per release and chunk size; a chunk of the new image is fetched when
# the old image (the seed) does not yield it, i.e. when its id is not in the old store.
for avg in 65536 16384; do
  for rel in v1 v2 v3; do
    store=$WORK/casync-$avg/$rel.castr
    rm -rf "$store"
    mkdir -p "$store"
    t=$(timed casync make --store="$store" --chunk-size="$avg" "$WORK/casync-$avg/$rel.caibx" "$DIR/$rel.cpio")
    printf 'casync make %s\t%s\t%s\t%s\n' "$avg" "$rel" "$(du -sb "$store" | cut -f1)" "$t" >&2
    (cd "$store" && find . -name '*.cacnk' -printf '%f\t%s\n' | sort) >"$WORK/casync-$avg/$rel.chunks"
  done
  for pair in v2:v3 v1:v3 v3:v3; do
    o=$WORK/casync-$avg/${pair%:*} n=$WORK/casync-$avg/${pair#*:}
    # chunks (name, size) of the new store absent from the old one
    read -r count bytes < <(join -v2 -t$'\t' <(cut -f1 "$o.chunks") "$n.chunks" |
      awk -F'\t' '{ c++; s += $2 } END { print c + 0, s + 0 }')
    printf 'casync %s\t%s\t%s\tchunks=%s\tindex=%s\n' "$avg" "${pair/:/->}" "$bytes" "$count" "$(size "$n.caibx")"
  done
done

# The device side of casync: extract v3 from v3's store with v2's image as the seed
# (time and peak RSS; the result is checked).
for avg in 65536 16384; do
  out=$WORK/casync-extract.out
  t=$(timed casync extract --store="$WORK/casync-$avg/v3.castr" --seed="$DIR/v2.cpio" \
    "$WORK/casync-$avg/v3.caibx" "$out")
  cmp -s "$out" "$DIR/v3.cpio" || { echo "casync extract $avg: result differs" >&2; exit 1; }
  printf 'casync extract %s (seed v2)\tv2->v3\t-\t-\t-\t-\t%s\n' "$avg" "$t"
  rm -f "$out"
done
