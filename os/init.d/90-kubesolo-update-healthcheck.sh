#!/bin/sh
# KubeSolo OS boot stage: the post-boot health check of kubesolo-update
# (docs/os-integration.md).
#
# Starts `kubesolo-update healthcheck --reboot` in the background on every boot, once
# the KubeSolo service has been started. After an update it commits the new slot when
# it is healthy, counts a failure when it is not, and after `auto_rollback_after`
# failures points GRUB back at the old slot and reboots (docs/health.md). On any other
# boot it only reports, and it records a boot fallback (BOOT_FALLBACK) as every agent
# command does. The commit-deadline watchdog (20-kubesolo-update-watchdog.sh) covers a
# check that never finishes.
#
# Run it (or source it) after the stage that starts KubeSolo. It returns at once.
#
# Environment (all optional):
#   KUBESOLO_ROOT   passed to the agent as --root; /run files are written under it
#   KUBESOLO_UPDATE_BIN   the agent (default: kubesolo-update on PATH)
#
# Files: /run/kubesolo-update/healthcheck.log (the agent's output),
#        /run/kubesolo-update/healthcheck.rc (its exit code, written when it ends:
#        0 healthy, 5 unhealthy; see docs/health.md).

ksu_hc_main() {
  ksu_hc_root=${KUBESOLO_ROOT:-}
  [ "$ksu_hc_root" = / ] && ksu_hc_root=
  ksu_hc_bin=${KUBESOLO_UPDATE_BIN:-$(command -v kubesolo-update)}
  if [ -z "$ksu_hc_bin" ]; then
    echo "kubesolo-update-healthcheck: kubesolo-update is not installed: no post-boot health check" >&2
    return 0
  fi
  ksu_hc_dir=$ksu_hc_root/run/kubesolo-update
  mkdir -p "$ksu_hc_dir"
  if [ -s "$ksu_hc_dir/healthcheck.pid" ] && kill -0 "$(cat "$ksu_hc_dir/healthcheck.pid")" 2>/dev/null; then
    echo "kubesolo-update-healthcheck: already running (pid $(cat "$ksu_hc_dir/healthcheck.pid"))" >&2
    return 0
  fi
  rm -f "$ksu_hc_dir/healthcheck.rc"
  echo "kubesolo-update-healthcheck: started; log $ksu_hc_dir/healthcheck.log" >&2
  (
    trap '' HUP
    if [ -n "$ksu_hc_root" ]; then
      "$ksu_hc_bin" healthcheck --reboot --root "$ksu_hc_root" >"$ksu_hc_dir/healthcheck.log" 2>&1
    else
      "$ksu_hc_bin" healthcheck --reboot >"$ksu_hc_dir/healthcheck.log" 2>&1
    fi
    ksu_hc_rc=$?
    # rc written whole through a rename: a reader never sees an empty file.
    echo "$ksu_hc_rc" >"$ksu_hc_dir/healthcheck.rc.tmp" &&
      mv -f "$ksu_hc_dir/healthcheck.rc.tmp" "$ksu_hc_dir/healthcheck.rc"
    rm -f "$ksu_hc_dir/healthcheck.pid"
    echo "kubesolo-update-healthcheck: finished, exit code $ksu_hc_rc" >&2
  ) </dev/null &
  echo $! >"$ksu_hc_dir/healthcheck.pid"
}

ksu_hc_main
