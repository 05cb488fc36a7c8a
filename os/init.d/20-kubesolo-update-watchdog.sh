#!/bin/sh
# KubeSolo OS boot stage: the commit-deadline watchdog of kubesolo-update
# (docs/os-integration.md).
#
# On a boot that GRUB started as an update trial (boot_success=0 in the GRUB
# environment, and the kernel booted from the slot on trial), it waits in the
# background until `commit_deadline` (update.conf, default 15m) after the kernel
# started. If the boot is still not committed by then, it logs why and reboots, so
# GRUB counts the try and, after three, boots the old slot again. A committed boot
# disarms it; a boot that is no trial never arms it. It needs neither Node.js nor
# Kubernetes: plain POSIX sh (busybox ash, dash), reading the GRUB environment block
# with the shell's own `read`.
#
# Run it (or source it) once per boot, after the ESP is mounted at /boot and before
# the KubeSolo service starts. It returns at once; the wait runs in the background.
#
# Environment (all optional):
#   KUBESOLO_ROOT                    every path below is read under this root (tests,
#                                    image builders), like the agent's --root
#   KUBESOLO_UPDATE_CONF             update.conf (default /etc/kubesolo/update.conf)
#   KUBESOLO_UPDATE_REBOOT_COMMAND   how to reboot (default: `reboot`, and `reboot -f`
#                                    if the system is still up a minute later)
#   KUBESOLO_UPDATE_WATCHDOG_POLL    seconds between looks at the GRUB environment
#                                    (default 5)
#   KUBESOLO_UPDATE_FW_PRINTENV      bootloader=uboot: the fw_printenv to run (default:
#                                    fw_printenv on PATH, libubootenv)
#
# update.conf keys it reads, by update.conf's own rules (last line wins, quotes
# unwrapped, empty = unset): commit_deadline (`0` = off, `N`, `Ns`, `Nm`, `Nh`;
# 30 s .. 24 h), commit_watchdog_device (optional kernel watchdog device, petted while
# armed), grubenv (default /boot/grub/grubenv), bootloader and uboot_env_config (default
# /etc/kubesolo/fw_env.config): with bootloader=uboot the same variables are read from the
# U-Boot environment through fw_printenv (ksu_wd_ubootenv).
#
# Names are prefixed ksu_ because an init may source its stages.

ksu_wd_log() {
  echo "kubesolo-update-watchdog: $*" >&2
  # Kept on the data partition so the reason survives the reboot it causes.
  if mkdir -p "$ksu_wd_root/var/lib/kubesolo/update" 2>/dev/null; then
    ksu_wd_logfile=$ksu_wd_root/var/lib/kubesolo/update/watchdog.log
    echo "uptime=$(ksu_wd_uptime) $*" >>"$ksu_wd_logfile" 2>/dev/null
    # Bounded: a device that keeps failing must not fill its data partition.
    if [ "$(wc -l <"$ksu_wd_logfile" 2>/dev/null || echo 0)" -gt 400 ]; then
      tail -n 200 "$ksu_wd_logfile" >"$ksu_wd_logfile.tmp" 2>/dev/null &&
        mv -f "$ksu_wd_logfile.tmp" "$ksu_wd_logfile"
    fi
  fi
}

# Whole seconds since the kernel started (immune to wall-clock jumps, e.g. NTP).
ksu_wd_uptime() {
  ksu_wd_up=0
  read -r ksu_wd_up _ 2>/dev/null <"$ksu_wd_root/proc/uptime"
  echo "${ksu_wd_up%%.*}"
}

ksu_wd_trim() { # VAR: strip surrounding whitespace (CR included) from $VAR
  eval "ksu_wd_t=\$$1"
  ksu_wd_t=${ksu_wd_t#"${ksu_wd_t%%[![:space:]]*}"}
  ksu_wd_t=${ksu_wd_t%"${ksu_wd_t##*[![:space:]]}"}
  eval "$1=\$ksu_wd_t"
}

# ksu_wd_conf KEY [CHECK]: the value of KEY in update.conf in ksu_wd_val ('' when unset
# or no file), read by the agent's rules (src/config/file.ts): trimmed, one pair of
# matching quotes removed, the last line wins, an empty value unsets. With CHECK (a
# function printing nothing for a bad value), ksu_wd_bad is the first value it refuses:
# the agent refuses the whole file then, even when a later line would override it.
ksu_wd_conf() {
  ksu_wd_val= ksu_wd_bad=
  [ -r "$ksu_wd_conf" ] || return 0
  while IFS= read -r ksu_wd_line || [ -n "$ksu_wd_line" ]; do
    ksu_wd_trim ksu_wd_line
    case $ksu_wd_line in '' | '#'*) continue ;; *=*) ;; *) continue ;; esac
    ksu_wd_k=${ksu_wd_line%%=*}
    ksu_wd_trim ksu_wd_k
    [ "$ksu_wd_k" = "$1" ] || continue
    ksu_wd_val=${ksu_wd_line#*=}
    ksu_wd_trim ksu_wd_val
    case $ksu_wd_val in
      \"*\" | \'*\') ksu_wd_val=${ksu_wd_val#?} ksu_wd_val=${ksu_wd_val%?} ;;
    esac
    if [ -n "$2" ] && [ -n "$ksu_wd_val" ] && [ -z "$ksu_wd_bad" ] && [ -z "$($2 "$ksu_wd_val")" ]; then
      ksu_wd_bad=$ksu_wd_val
    fi
  done <"$ksu_wd_conf"
}

# ksu_wd_seconds TEXT: commit_deadline in seconds (0 = off), or nothing when invalid.
# The grammar of the agent's parser (src/config/values.ts `commitDeadline`).
ksu_wd_seconds() {
  ksu_wd_n=${1%[smh]}
  case $ksu_wd_n in '' | *[!0-9]*) return 0 ;; esac
  [ ${#ksu_wd_n} -le 6 ] || return 0
  # Leading zeros would make shell arithmetic read the number as octal.
  while :; do case $ksu_wd_n in 0?*) ksu_wd_n=${ksu_wd_n#0} ;; *) break ;; esac; done
  case $1 in *h) ksu_wd_n=$((ksu_wd_n * 3600)) ;; *m) ksu_wd_n=$((ksu_wd_n * 60)) ;; *) ksu_wd_n=$((ksu_wd_n + 0)) ;; esac
  if [ "$ksu_wd_n" -eq 0 ] || { [ "$ksu_wd_n" -ge 30 ] && [ "$ksu_wd_n" -le 86400 ]; }; then
    echo "$ksu_wd_n"
  fi
}

# ksu_wd_ubootenv: the same from the U-Boot environment (bootloader=uboot), through the
# OS's fw_printenv (libubootenv) with the fw_env.config the agent reads: the environment
# is binary with a CRC, which sh cannot check. An environment fw_printenv cannot read (no valid
# copy) reads as no variables, as U-Boot then boots its defaults (slot A, committed).
ksu_wd_ubootenv() {
  ksu_wd_env_ok=0 ksu_wd_active= ksu_wd_success= ksu_wd_counter=
  ksu_wd_out=$(${KUBESOLO_UPDATE_FW_PRINTENV:-fw_printenv} -c "$ksu_wd_env" active_slot boot_success boot_counter 2>/dev/null) || return 0
  while IFS= read -r ksu_wd_line; do
    case $ksu_wd_line in
      active_slot=*) ksu_wd_active=${ksu_wd_line#*=} ;;
      boot_success=*) ksu_wd_success=${ksu_wd_line#*=} ;;
      boot_counter=*) ksu_wd_counter=${ksu_wd_line#*=} ;;
    esac
  done <<EOF_UBOOTENV
$ksu_wd_out
EOF_UBOOTENV
  ksu_wd_env_ok=1
}

# ksu_wd_grubenv: read the GRUB environment block into ksu_wd_env_ok (1: a valid block),
# ksu_wd_active, ksu_wd_success, ksu_wd_counter. As GRUB does: a block that is missing,
# not 1024 bytes or without the signature reads as no variables; in a value, `\` +
# newline continues it (such continuation lines are not variables); the last copy wins.
ksu_wd_grubenv() {
  [ "$ksu_wd_bootloader" = uboot ] && { ksu_wd_ubootenv; return; }
  ksu_wd_env_ok=0 ksu_wd_active= ksu_wd_success= ksu_wd_counter=
  [ -r "$ksu_wd_env" ] || return 0
  [ "$(wc -c <"$ksu_wd_env" 2>/dev/null)" -eq 1024 ] 2>/dev/null || return 0
  ksu_wd_first=1 ksu_wd_cont=0
  while IFS= read -r ksu_wd_line; do
    if [ $ksu_wd_first = 1 ]; then
      [ "$ksu_wd_line" = "# GRUB Environment Block" ] || return 0
      ksu_wd_first=0
      continue
    fi
    if [ $ksu_wd_cont = 0 ]; then
      case $ksu_wd_line in
        active_slot=*) ksu_wd_active=${ksu_wd_line#*=} ;;
        boot_success=*) ksu_wd_success=${ksu_wd_line#*=} ;;
        boot_counter=*) ksu_wd_counter=${ksu_wd_line#*=} ;;
      esac
    fi
    # An odd number of trailing backslashes: the value goes on on the next line.
    ksu_wd_t=$ksu_wd_line
    while :; do
      case $ksu_wd_t in *'\\') ksu_wd_t=${ksu_wd_t%??} ;; *) break ;; esac
    done
    case $ksu_wd_t in *'\') ksu_wd_cont=1 ;; *) ksu_wd_cont=0 ;; esac
  done <"$ksu_wd_env"
  ksu_wd_env_ok=1
}

# The slot GRUB boots for this environment (boot/grub.cfg: B only for "B").
ksu_wd_slot() { if [ "$ksu_wd_active" = B ]; then echo B; else echo A; fi; }

# On trial, as boot/grub.cfg decides: boot_success neither empty nor 1.
ksu_wd_on_trial() {
  [ "$ksu_wd_env_ok" = 1 ] && [ -n "$ksu_wd_success" ] && [ "$ksu_wd_success" != 1 ]
}

ksu_wd_reboot() {
  sync
  if [ -n "$KUBESOLO_UPDATE_REBOOT_COMMAND" ]; then
    /bin/sh -c "$KUBESOLO_UPDATE_REBOOT_COMMAND"
    return
  fi
  # `reboot` asks init for an orderly reboot; an init that does not answer (or no init
  # at all) must not keep the device on the broken slot, so force it a minute later.
  reboot
  sleep 60
  ksu_wd_log "still running 60 s after asking init to reboot: forcing the reboot"
  sync
  reboot -f
}

# Kernel watchdog device (optional): opened on fd 3 while armed, petted on every look,
# closed with the magic 'V' when the boot is committed. Its failure never stops the
# shell watchdog.
ksu_wd_hw_open() {
  ksu_wd_hw=0
  ksu_wd_conf commit_watchdog_device
  ksu_wd_dev=$ksu_wd_val
  [ -n "$ksu_wd_dev" ] || return 0
  ksu_wd_name=${ksu_wd_dev##*/}
  if [ "$(cat "$ksu_wd_root/sys/class/watchdog/$ksu_wd_name/nowayout" 2>/dev/null)" = 1 ]; then
    ksu_wd_log "not using $ksu_wd_dev: its driver has nowayout set, so it could not be stopped after a commit"
    return 0
  fi
  if exec 3>"$ksu_wd_root$ksu_wd_dev"; then
    ksu_wd_hw=1
    ksu_wd_log "kernel watchdog $ksu_wd_dev opened: it resets the device if this watchdog stops petting it"
  else
    ksu_wd_log "cannot open the kernel watchdog $ksu_wd_dev; going on without it"
  fi
}
ksu_wd_hw_pet() { [ "$ksu_wd_hw" = 0 ] || printf '.' >&3 2>/dev/null; }
ksu_wd_hw_close() {
  [ "$ksu_wd_hw" = 0 ] && return 0
  printf 'V' >&3 2>/dev/null
  exec 3>&-
  ksu_wd_hw=0
}

# The background part: look every poll interval; disarm on commit, reboot at the deadline.
ksu_wd_wait() {
  ksu_wd_hw_open
  while :; do
    ksu_wd_grubenv
    # Disarm only on what the agent writes when it commits or rolls back: a valid block
    # with boot_success=1. A block read while being rewritten is not taken for a commit.
    if [ "$ksu_wd_env_ok" = 1 ] && [ "$ksu_wd_success" = 1 ]; then
      ksu_wd_hw_close
      ksu_wd_log "boot committed (boot_success=1, active_slot=$(ksu_wd_slot)) after $(ksu_wd_uptime) s: disarmed"
      return 0
    fi
    ksu_wd_now=$(ksu_wd_uptime)
    if [ "$ksu_wd_now" -ge "$ksu_wd_deadline" ]; then
      if [ "$ksu_wd_env_ok" = 1 ]; then
        ksu_wd_log "slot $ksu_wd_running still not committed ${ksu_wd_now} s after boot (commit_deadline ${ksu_wd_deadline} s; boot_success=$ksu_wd_success boot_counter=${ksu_wd_counter:-unset}): rebooting so GRUB counts the try"
      else
        ksu_wd_log "slot $ksu_wd_running: GRUB environment $ksu_wd_env unreadable at the commit deadline (${ksu_wd_now} s): rebooting, GRUB will boot its defaults"
      fi
      ksu_wd_hw_pet
      ksu_wd_reboot
      return 0
    fi
    ksu_wd_hw_pet
    ksu_wd_left=$((ksu_wd_deadline - ksu_wd_now))
    if [ "$ksu_wd_left" -lt "${ksu_wd_poll%%.*}" ] 2>/dev/null; then
      sleep "$ksu_wd_left"
    else
      sleep "$ksu_wd_poll"
    fi
  done
}

ksu_wd_main() {
  ksu_wd_root=${KUBESOLO_ROOT:-}
  [ "$ksu_wd_root" = / ] && ksu_wd_root=
  ksu_wd_conf=$ksu_wd_root${KUBESOLO_UPDATE_CONF:-/etc/kubesolo/update.conf}
  ksu_wd_poll=${KUBESOLO_UPDATE_WATCHDOG_POLL:-5}

  ksu_wd_conf grubenv
  ksu_wd_env=$ksu_wd_root${ksu_wd_val:-/boot/grub/grubenv}
  ksu_wd_conf bootloader
  ksu_wd_bootloader=$ksu_wd_val
  if [ "$ksu_wd_bootloader" = uboot ]; then
    ksu_wd_conf uboot_env_config
    ksu_wd_env=$ksu_wd_root${ksu_wd_val:-/etc/kubesolo/fw_env.config}
  fi
  ksu_wd_conf commit_deadline ksu_wd_seconds
  if [ -n "$ksu_wd_bad" ]; then
    ksu_wd_log "invalid commit_deadline '$ksu_wd_bad' in $ksu_wd_conf (want 0, or 30s..24h as N, Ns, Nm or Nh): using 15m"
    ksu_wd_deadline=900
  else
    ksu_wd_deadline=$(ksu_wd_seconds "${ksu_wd_val:-15m}")
  fi

  ksu_wd_grubenv
  if ! ksu_wd_on_trial; then
    echo "kubesolo-update-watchdog: not an update trial boot (boot_success=${ksu_wd_success:-unset}): not armed" >&2
    return 0
  fi
  ksu_wd_trial=$(ksu_wd_slot)
  ksu_wd_running=$(sed -n 's/.*kubesolo\.slot=\([AB]\).*/\1/p' "$ksu_wd_root/proc/cmdline" 2>/dev/null)
  if [ -n "$ksu_wd_running" ] && [ "$ksu_wd_running" != "$ksu_wd_trial" ]; then
    # GRUB could not record the try (save_env failed) or the other slot was chosen by
    # hand: rebooting would not count anything and could loop forever.
    ksu_wd_log "slot $ksu_wd_trial is on trial but slot $ksu_wd_running is running: not armed"
    return 0
  fi
  ksu_wd_running=${ksu_wd_running:-$ksu_wd_trial}
  if [ "$ksu_wd_deadline" -eq 0 ]; then
    ksu_wd_log "slot $ksu_wd_running is on trial, but commit_deadline=0: not armed"
    return 0
  fi
  ksu_wd_pidfile=$ksu_wd_root/run/kubesolo-update/watchdog.pid
  mkdir -p "${ksu_wd_pidfile%/*}"
  if [ -s "$ksu_wd_pidfile" ] && kill -0 "$(cat "$ksu_wd_pidfile")" 2>/dev/null; then
    echo "kubesolo-update-watchdog: already armed (pid $(cat "$ksu_wd_pidfile"))" >&2
    return 0
  fi
  ksu_wd_log "slot $ksu_wd_running is on trial (boot_counter=${ksu_wd_counter:-unset}): armed, reboot unless committed ${ksu_wd_deadline} s after boot"
  (
    trap '' HUP
    ksu_wd_wait
    rm -f "$ksu_wd_pidfile"
  ) </dev/null &
  echo $! >"$ksu_wd_pidfile"
}

ksu_wd_main
