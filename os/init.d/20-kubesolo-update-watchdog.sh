#!/bin/sh
# KubeSolo OS boot stage: the commit-deadline watchdog of kubesolo-update
# (docs/os-integration.md).
#
# On a boot that GRUB started as an update trial (boot_success=0 in the GRUB
# environment, and the kernel booted from the slot on trial), it waits in the
# background until `commit_deadline` (update.conf, default 15m) after the kernel
# started. If the boot is still not committed by then, it logs why and reboots, so
# GRUB counts the try and, after three, boots the old slot again (U-Boot's boot.scr the
# same; on a Raspberry Pi, bootloader=rpi-tryboot, the reboot is the rollback itself:
# a reboot without the tryboot flag boots autoboot.txt's [all], the committed slot).
# A committed boot disarms it; a boot that is no trial never arms it. It needs neither Node.js nor
# Kubernetes: plain POSIX sh (busybox ash, dash), reading the GRUB environment block
# with the shell's own `read`.
#
# Run it (or source it) once per boot, after the ESP is mounted at /boot and before
# the KubeSolo service starts. It returns at once whatever it finds (a FIFO, a link to
# /dev/zero, a directory or a huge file at any path it reads; docs/os-integration.md
# "Bad inputs" lists what it does with each); the wait runs in the background, with a
# backstop that reboots in its place should it ever get stuck.
#
# Environment (all optional):
#   KUBESOLO_ROOT                    every path below is read under this root (tests,
#                                    image builders), like the agent's --root
#   KUBESOLO_UPDATE_CONF             update.conf (default /etc/kubesolo/update.conf)
#   KUBESOLO_UPDATE_REBOOT_COMMAND   how to reboot (default: `reboot`, and `reboot -f`
#                                    if the system is still up a minute later)
#   KUBESOLO_UPDATE_WATCHDOG_POLL    seconds between looks at the GRUB environment:
#                                    N or N.DDD, 0.01 to 60 (default 5)
#   KUBESOLO_UPDATE_FW_PRINTENV      bootloader=uboot: the fw_printenv to run (default:
#                                    fw_printenv on PATH, libubootenv)
#   KUBESOLO_UPDATE_REBOOT_ARG       never passed on: the watchdog's reboot is an
#                                    ordinary one (on a Pi, "0 tryboot" would start the
#                                    slot on trial again)
#
# update.conf keys it reads, by update.conf's own rules (last line wins, quotes
# unwrapped, empty = unset): commit_deadline (`0` = off, `N`, `Ns`, `Nm`, `Nh`;
# 30 s .. 24 h), commit_watchdog_device (optional kernel watchdog device, petted while
# armed), grubenv (default /boot/grub/grubenv), bootloader and uboot_env_config (default
# /etc/kubesolo/fw_env.config): with bootloader=uboot the same variables are read from the
# U-Boot environment through fw_printenv (ksu_wd_ubootenv); autoboot_txt (default
# /boot/firmware/autoboot.txt): with bootloader=rpi-tryboot the trial is read from the
# Raspberry Pi firmware's autoboot.txt and its tryboot flag in the device tree
# (ksu_wd_autoboot, ksu_wd_tryboot_trial).
#
# Names are prefixed ksu_ because an init may source its stages. For the same reason
# the stage itself sets no trap and never exits; only its background subshell does.

# ksu_wd_say MESSAGE: to the console (init's stderr). The write happens in a subshell
# that ignores SIGPIPE: when nothing reads init's end of the pipe any more, the write
# fails instead of killing the watchdog before it can reboot (and a sourcing init keeps
# its own SIGPIPE handling).
ksu_wd_say() { (trap '' PIPE; echo "kubesolo-update-watchdog: $*" >&2); }

# ksu_wd_log MESSAGE: to the console, and appended to the data partition so the reason
# survives the reboot it causes.
ksu_wd_log() {
  ksu_wd_say "$*"
  ksu_wd_logfile=$ksu_wd_root/var/lib/kubesolo/update/watchdog.log
  [ -d "${ksu_wd_logfile%/*}" ] || mkdir -p "${ksu_wd_logfile%/*}" 2>/dev/null || return 0
  # Appending to a FIFO would block until a reader comes; to a device, write nowhere.
  if [ -e "$ksu_wd_logfile" ] && [ ! -f "$ksu_wd_logfile" ]; then
    if [ -z "$ksu_wd_log_refused" ]; then
      ksu_wd_log_refused=1
      ksu_wd_say "$ksu_wd_logfile is not a regular file: logging to the console only"
    fi
    return 0
  fi
  echo "$ksu_wd_clock_name=${ksu_wd_now:-?} $*" >>"$ksu_wd_logfile" 2>/dev/null
}

# ksu_wd_log_trim: keep the log bounded, so a device that keeps failing does not fill
# its data partition. Once per stage run (a boot adds a handful of lines): past 64 KiB
# the last 32 KiB are kept, without their first line (cut in the middle). `tail -c`
# seeks, so even a huge file planted there costs little.
ksu_wd_log_trim() {
  ksu_wd_logfile=$ksu_wd_root/var/lib/kubesolo/update/watchdog.log
  ksu_wd_small "$ksu_wd_logfile" 65536 && return 0
  [ "$ksu_wd_why" = "larger than 65536 bytes" ] || return 0
  tail -c 32768 "$ksu_wd_logfile" 2>/dev/null | sed 1d >"$ksu_wd_logfile.tmp" 2>/dev/null &&
    mv -f "$ksu_wd_logfile.tmp" "$ksu_wd_logfile"
}

# ksu_wd_small FILE MAX: true when FILE is a regular file of at most MAX bytes, with its
# size in ksu_wd_size; otherwise false with ksu_wd_why saying what is there instead
# (`missing` when nothing is). Every file this stage reads goes through it first, as
# the agent's control files go through readControlFile (src/fs/control-file.ts): a
# FIFO blocks open(2) until a writer comes, a link to /dev/zero never ends, and the
# shell's `read` makes one system call per byte (a 20 MB one-line update.conf took
# over 10 s). `[ -f ]` follows links: a link to a regular file is read, a link to a
# device is not. The check and the read are two steps, and sh cannot open without
# blocking: a file swapped for a FIFO between them would still block the read. The
# last `[ -f ]` comes after the count, right before the caller opens the file, so the
# window is the start of one process at most; in the background the backstop
# (ksu_wd_backstop) reboots a watchdog stuck in it.
ksu_wd_small() {
  if [ ! -f "$1" ]; then
    ksu_wd_not_regular "$1"
  elif [ ! -r "$1" ]; then
    ksu_wd_why='not readable'
  else
    # `head -c` stops after MAX+1 bytes whatever the file's size, so this costs little.
    ksu_wd_size=$(head -c "$(($2 + 1))" "$1" 2>/dev/null | wc -c)
    ksu_wd_size=${ksu_wd_size##*[!0-9]} # wc may pad with blanks
    if [ "${ksu_wd_size:-0}" -gt "$2" ]; then
      ksu_wd_why="larger than $2 bytes"
    elif [ -f "$1" ]; then
      return 0
    else
      ksu_wd_not_regular "$1" # swapped or removed while counting
    fi
  fi
  return 1
}
# ksu_wd_not_regular PATH: what is at PATH instead of a regular file, in ksu_wd_why.
ksu_wd_not_regular() {
  if [ -d "$1" ]; then
    ksu_wd_why='a directory'
  elif [ -e "$1" ]; then
    ksu_wd_why='not a regular file' # FIFO, device, socket
  else
    ksu_wd_why=missing # also a dangling link, as the agent reads ENOENT
  fi
}

# ksu_wd_int TEXT MAXDIGITS: TEXT, a plain decimal number of at most MAXDIGITS digits,
# into ksu_wd_i without leading zeros; false for anything else. Every number the stage
# computes with goes through it: shell arithmetic reads `08` as bad octal and `1x` as
# an error, and either ends a non-interactive dash.
ksu_wd_int() {
  ksu_wd_i=$1
  case $ksu_wd_i in '' | *[!0-9]*) return 1 ;; esac
  [ ${#ksu_wd_i} -le "$2" ] || return 1
  while :; do case $ksu_wd_i in 0?*) ksu_wd_i=${ksu_wd_i#0} ;; *) break ;; esac; done
}

# ksu_wd_read_uptime: whole seconds since the kernel started into ksu_wd_up (immune to
# wall-clock jumps such as NTP's); false with ksu_wd_why when /proc/uptime does not
# read as one (missing, empty, not a number, not a regular file). Only its first 64
# bytes are read (the kernel's line is about 20), in one `head`: this runs at every look.
ksu_wd_read_uptime() {
  ksu_wd_up=$ksu_wd_root/proc/uptime
  if [ ! -f "$ksu_wd_up" ]; then
    ksu_wd_not_regular "$ksu_wd_up"
    return 1
  fi
  ksu_wd_up=$(head -c 64 "$ksu_wd_up" 2>/dev/null)
  ksu_wd_up=${ksu_wd_up%%[[:space:]]*} # the first of its two numbers
  case $ksu_wd_up in
    '') ksu_wd_why=empty ;;
    *.*.* | .* | *. | *[!0-9.]*) ksu_wd_why='not a number' ;;
    *)
      ksu_wd_int "${ksu_wd_up%.*}" 9 && ksu_wd_up=$ksu_wd_i && return 0
      ksu_wd_why='more than 9 digits'
      ;;
  esac
  return 1
}

# ksu_wd_tick: the seconds since boot into ksu_wd_now. From /proc/uptime whenever it
# reads as a number. When it does not, the watchdog counts the time itself: the last
# value it knew (0 when it never read one: then it counts from this stage's start, a
# little after the kernel's) plus the sleeps that completed since. Counted time falls
# behind real time (the looks themselves are not counted), so a bad /proc/uptime makes
# the reboot come late, never early, and never "0 forever". Logged once when lost and
# once when back, not at every look.
ksu_wd_tick() {
  ksu_wd_was=$ksu_wd_clock_name
  if ksu_wd_read_uptime; then
    ksu_wd_clock_name=uptime ksu_wd_now=$ksu_wd_up ksu_wd_ms=$((ksu_wd_up * 1000))
    [ "$ksu_wd_was" = counted ] && ksu_wd_log "$ksu_wd_root/proc/uptime reads again: using it"
  else
    ksu_wd_clock_name=counted
    ksu_wd_ms=$((ksu_wd_ms + ksu_wd_slept_ms))
    ksu_wd_now=$((ksu_wd_ms / 1000))
    [ "$ksu_wd_was" = counted ] ||
      ksu_wd_log "cannot read $ksu_wd_root/proc/uptime ($ksu_wd_why): counting time from my own sleeps from $ksu_wd_now s on (the reboot may come late, never early)"
  fi
  ksu_wd_slept_ms=0
}

ksu_wd_trim() { # VAR: strip surrounding whitespace (CR included) from $VAR
  eval "ksu_wd_t=\$$1"
  ksu_wd_t=${ksu_wd_t#"${ksu_wd_t%%[![:space:]]*}"}
  ksu_wd_t=${ksu_wd_t%"${ksu_wd_t##*[![:space:]]}"}
  eval "$1=\$ksu_wd_t"
}

# ksu_wd_seconds TEXT: commit_deadline in seconds into ksu_wd_secs (0 = off), or ''
# when invalid. The grammar of the agent's parser (src/config/values.ts
# `commitDeadline`).
ksu_wd_seconds() {
  ksu_wd_secs=
  ksu_wd_int "${1%[smh]}" 6 || return 0
  case $1 in
    *h) ksu_wd_i=$((ksu_wd_i * 3600)) ;;
    *m) ksu_wd_i=$((ksu_wd_i * 60)) ;;
  esac
  if [ "$ksu_wd_i" -eq 0 ] || { [ "$ksu_wd_i" -ge 30 ] && [ "$ksu_wd_i" -le 86400 ]; }; then
    ksu_wd_secs=$ksu_wd_i
  fi
}

# ksu_wd_read_conf: the three keys this stage uses from update.conf into ksu_wd_c_*,
# read by the agent's rules (src/config/file.ts): trimmed, one pair of matching quotes
# removed, the last line wins, an empty value unsets. ksu_wd_deadline_bad is the first
# commit_deadline value the agent refuses: it refuses the whole file then, even when a
# later line would override it. At most 64 KiB, the agent's CONFIG_MAX_BYTES; a file
# the agent would refuse (too large, not a regular file) gives the defaults here,
# loudly: a broken file must not switch the safety net off.
ksu_wd_read_conf() {
  ksu_wd_c_grubenv= ksu_wd_c_deadline= ksu_wd_c_device= ksu_wd_deadline_bad=
  ksu_wd_c_bootloader= ksu_wd_c_uboot_env_config= ksu_wd_c_autoboot_txt=
  if ! ksu_wd_small "$ksu_wd_conf" 65536; then
    # No file: the defaults, quietly, as the agent.
    [ "$ksu_wd_why" = missing ] ||
      ksu_wd_log "cannot read $ksu_wd_conf ($ksu_wd_why; the agent refuses it too): using commit_deadline 15m, grubenv /boot/grub/grubenv and no kernel watchdog device"
    return 0
  fi
  while IFS= read -r ksu_wd_line || [ -n "$ksu_wd_line" ]; do
    ksu_wd_trim ksu_wd_line
    case $ksu_wd_line in '' | '#'*) continue ;; *=*) ;; *) continue ;; esac
    ksu_wd_k=${ksu_wd_line%%=*}
    ksu_wd_trim ksu_wd_k
    ksu_wd_val=${ksu_wd_line#*=}
    ksu_wd_trim ksu_wd_val
    case $ksu_wd_val in
      \"*\" | \'*\') ksu_wd_val=${ksu_wd_val#?} ksu_wd_val=${ksu_wd_val%?} ;;
    esac
    case $ksu_wd_k in
      grubenv) ksu_wd_c_grubenv=$ksu_wd_val ;;
      commit_watchdog_device) ksu_wd_c_device=$ksu_wd_val ;;
      bootloader) ksu_wd_c_bootloader=$ksu_wd_val ;;
      uboot_env_config) ksu_wd_c_uboot_env_config=$ksu_wd_val ;;
      autoboot_txt) ksu_wd_c_autoboot_txt=$ksu_wd_val ;;
      commit_deadline)
        ksu_wd_c_deadline=$ksu_wd_val
        if [ -n "$ksu_wd_val" ] && [ -z "$ksu_wd_deadline_bad" ]; then
          ksu_wd_seconds "$ksu_wd_val"
          [ -n "$ksu_wd_secs" ] || ksu_wd_deadline_bad=$ksu_wd_val
        fi
        ;;
    esac
  done <"$ksu_wd_conf"
}

# ksu_wd_ubootenv: the same from the U-Boot environment (bootloader=uboot), through the
# OS's fw_printenv (libubootenv) with the fw_env.config the agent reads: the environment
# is binary with a CRC, which sh cannot check. An environment fw_printenv cannot read
# (no valid copy) reads as no variables, as U-Boot then boots its defaults (slot A,
# committed): not armed.
ksu_wd_ubootenv() {
  ksu_wd_env_ok=0 ksu_wd_env_state=damaged ksu_wd_active= ksu_wd_success= ksu_wd_counter=
  if ! ksu_wd_out=$(${KUBESOLO_UPDATE_FW_PRINTENV:-fw_printenv} -c "$ksu_wd_env" active_slot boot_success boot_counter 2>/dev/null); then
    ksu_wd_env_why="fw_printenv -c $ksu_wd_env could not read it"
    return 0
  fi
  while IFS= read -r ksu_wd_line; do
    case $ksu_wd_line in
      active_slot=*) ksu_wd_active=${ksu_wd_line#*=} ;;
      boot_success=*) ksu_wd_success=${ksu_wd_line#*=} ;;
      boot_counter=*) ksu_wd_counter=${ksu_wd_line#*=} ;;
    esac
  done <<EOF_UBOOTENV
$ksu_wd_out
EOF_UBOOTENV
  ksu_wd_env_ok=1 ksu_wd_env_state=ok ksu_wd_env_why=
}

# ksu_wd_autoboot: the Raspberry Pi firmware's autoboot.txt (bootloader=rpi-tryboot), by
# the agent's rules (src/bootenv/autoboot-txt.ts, tryboot-bootenv.ts): at most 512 bytes
# (the firmware reads no more; the agent refuses a larger file), no NUL; lines trimmed;
# blank lines and `#` comments skipped; only `[all]` with `tryboot_a_b=1` and
# `boot_partition`, and `[tryboot]` with `boot_partition`; partition 2 is slot A, 3 is
# slot B; each boot_partition a partition number, the last line wins. Anything else is a
# file the agent refuses: damaged here.
# Into the GRUB terms of the other readers: nothing pending ([tryboot] = [all], or no
# [tryboot]) is boot_success=1 for the slot of [all]; a slot pending in [tryboot] is
# boot_success=0 for that slot. Whether this boot is its trial is ksu_wd_tryboot_trial's.
ksu_wd_autoboot() {
  ksu_wd_env_ok=0 ksu_wd_env_state=damaged ksu_wd_active= ksu_wd_success= ksu_wd_counter=
  ksu_wd_all=
  if ! ksu_wd_small "$ksu_wd_env" 512; then
    ksu_wd_env_why=$ksu_wd_why
    case $ksu_wd_why in
      missing) ksu_wd_env_state=missing ;;
      larger*) ksu_wd_env_why="$ksu_wd_why: the firmware reads only the first 512" ;;
      *) ksu_wd_env_state=unreadable ;; # a directory, a FIFO, a device
    esac
    return 0
  fi
  # `read` would drop a NUL the agent reads as a character (and refuses).
  ksu_wd_t=$(tr -d '\000' <"$ksu_wd_env" 2>/dev/null | wc -c)
  if [ "${ksu_wd_t##*[!0-9]}" != "$ksu_wd_size" ]; then
    ksu_wd_env_why='a NUL byte in it'
    return 0
  fi
  ksu_wd_sec= ksu_wd_ab= ksu_wd_pa= ksu_wd_pt= ksu_wd_env_why=
  while IFS= read -r ksu_wd_line || [ -n "$ksu_wd_line" ]; do
    ksu_wd_trim ksu_wd_line
    case $ksu_wd_line in
      '' | '#'*) continue ;;
      '[all]') ksu_wd_sec=all && continue ;;
      '[tryboot]') ksu_wd_sec=tryboot && continue ;;
    esac
    # Every boot_partition value is a partition number, even one a later line replaces:
    # the agent refuses the file otherwise.
    case $ksu_wd_line in
      boot_partition=[1-9] | boot_partition=[1-9][0-9]) ;;
      boot_partition=*)
        ksu_wd_env_why="${ksu_wd_line} is not a partition number"
        break
        ;;
    esac
    case $ksu_wd_sec:$ksu_wd_line in
      all:boot_partition=*) ksu_wd_pa=${ksu_wd_line#*=} ;;
      tryboot:boot_partition=*) ksu_wd_pt=${ksu_wd_line#*=} ;;
      all:tryboot_a_b=1) ksu_wd_ab=1 ;;
      *) ksu_wd_env_why="unsupported line '$ksu_wd_line'" && break ;;
    esac
  done <"$ksu_wd_env"
  [ -n "$ksu_wd_env_why" ] && return 0
  [ -n "$ksu_wd_pt" ] || ksu_wd_pt=$ksu_wd_pa
  for ksu_wd_t in "$ksu_wd_pa" "$ksu_wd_pt"; do
    case $ksu_wd_t in
      2 | 3) ;;
      '') ksu_wd_env_why='no boot_partition in [all]' && return 0 ;;
      *) ksu_wd_env_why="boot_partition=$ksu_wd_t is neither slot A (2) nor slot B (3)" && return 0 ;;
    esac
  done
  if [ -z "$ksu_wd_ab" ]; then
    ksu_wd_env_why='no tryboot_a_b=1 in [all]: the firmware ignores [tryboot]'
    return 0
  fi
  ksu_wd_all=A ksu_wd_active=A
  [ "$ksu_wd_pa" = 3 ] && ksu_wd_all=B
  [ "$ksu_wd_pt" = 3 ] && ksu_wd_active=B
  if [ "$ksu_wd_active" = "$ksu_wd_all" ]; then ksu_wd_success=1; else ksu_wd_success=0; fi
  ksu_wd_env_ok=1 ksu_wd_env_state=ok
}

# ksu_wd_tryboot_flag: the firmware's tryboot flag into ksu_wd_flag (1: this boot is the
# one try of [tryboot]; else 0), as the agent reads it: a 4-byte big-endian cell that is
# 1. Anything else is "not set", loudly unless the file is just missing.
ksu_wd_tryboot_flag() {
  ksu_wd_flag=0
  ksu_wd_flagfile=$ksu_wd_root/proc/device-tree/chosen/bootloader/tryboot
  if ! ksu_wd_small "$ksu_wd_flagfile" 64; then
    [ "$ksu_wd_why" = missing ] ||
      ksu_wd_log "cannot read the firmware's tryboot flag $ksu_wd_flagfile ($ksu_wd_why): taken as not set"
    return 0
  fi
  ksu_wd_t=$(od -An -tx1 -N4 "$ksu_wd_flagfile" 2>/dev/null | tr -d ' \n')
  if [ "$ksu_wd_size" = 4 ] && [ "$ksu_wd_t" = 00000001 ]; then
    ksu_wd_flag=1
  elif [ "$ksu_wd_size" != 4 ]; then
    ksu_wd_log "the firmware's tryboot flag $ksu_wd_flagfile is $ksu_wd_size bytes, not a 4-byte cell: taken as not set"
  fi
}

# ksu_wd_grubenv: read the GRUB environment block into ksu_wd_env_ok (1: a valid block;
# else ksu_wd_env_state is missing, damaged or unreadable and ksu_wd_env_why says
# what is wrong), ksu_wd_active, ksu_wd_success, ksu_wd_counter. As GRUB does: a block that is missing, not 1024 bytes or without the
# signature reads as no variables; in a value, `\` + newline continues it (such
# continuation lines are not variables); the last copy wins. The agent reads at most
# 64 KiB of it (readGrubEnvFile) and its parser then wants exactly 1024 bytes: the
# same here.
ksu_wd_grubenv() {
  case $ksu_wd_c_bootloader in
    uboot) ksu_wd_ubootenv; return 0 ;;
    rpi-tryboot) ksu_wd_autoboot; return 0 ;;
  esac
  ksu_wd_env_ok=0 ksu_wd_env_state=damaged ksu_wd_active= ksu_wd_success= ksu_wd_counter=
  if ! ksu_wd_small "$ksu_wd_env" 65536; then
    ksu_wd_env_why=$ksu_wd_why
    case $ksu_wd_why in
      missing) ksu_wd_env_state=missing ;;
      larger*) ksu_wd_env_state=damaged ;;
      *) ksu_wd_env_state=unreadable ;; # a directory, a FIFO, a device
    esac
    return 0
  fi
  if [ "$ksu_wd_size" -ne 1024 ]; then
    ksu_wd_env_why="$ksu_wd_size bytes, not a 1024-byte block"
    return 0
  fi
  ksu_wd_first=1 ksu_wd_cont=0
  while IFS= read -r ksu_wd_line; do
    if [ $ksu_wd_first = 1 ]; then
      if [ "$ksu_wd_line" != "# GRUB Environment Block" ]; then
        ksu_wd_env_why='no GRUB signature'
        ksu_wd_active= ksu_wd_success= ksu_wd_counter=
        return 0
      fi
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
  if [ $ksu_wd_first = 1 ]; then # nothing read at all (it changed since the check)
    ksu_wd_env_why='no GRUB signature'
    return 0
  fi
  ksu_wd_env_ok=1 ksu_wd_env_state=ok ksu_wd_env_why=
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
    # An ordinary reboot: a helper that passes KUBESOLO_UPDATE_REBOOT_ARG to reboot(2)
    # must not get a "0 tryboot" left in the environment, which would start the slot on
    # trial again instead of the committed one.
    (
      unset KUBESOLO_UPDATE_REBOOT_ARG
      /bin/sh -c "$KUBESOLO_UPDATE_REBOOT_COMMAND"
    )
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
# shell watchdog: `exec 3>...` alone would end the whole shell when the open fails
# (exec is a special builtin: a failed redirection exits a non-interactive dash,
# busybox ash or `bash --posix`), so the open goes through `command exec`, which only
# fails. Only a character device (or a regular file: how the tests see what is
# written) is opened: `>` would create a missing path as a plain file, and opening a
# FIFO for writing blocks until a reader comes.
ksu_wd_hw_open() {
  ksu_wd_hw=0
  ksu_wd_dev=$ksu_wd_c_device
  [ -n "$ksu_wd_dev" ] || return 0
  ksu_wd_devpath=$ksu_wd_root$ksu_wd_dev
  ksu_wd_nowayout=$ksu_wd_root/sys/class/watchdog/${ksu_wd_dev##*/}/nowayout
  # No such sysfs file (e.g. the legacy name /dev/watchdog): nothing says nowayout.
  # One that cannot be read says nothing either way: not used then, as with nowayout.
  ksu_wd_v=
  if ksu_wd_small "$ksu_wd_nowayout" 4096; then
    read -r ksu_wd_v <"$ksu_wd_nowayout" 2>/dev/null
  elif [ "$ksu_wd_why" != missing ]; then
    ksu_wd_log "not using $ksu_wd_dev: cannot read $ksu_wd_nowayout ($ksu_wd_why), so it might not be stoppable after a commit"
    return 0
  fi
  if [ "$ksu_wd_v" = 1 ]; then
    ksu_wd_log "not using $ksu_wd_dev: its driver has nowayout set, so it could not be stopped after a commit"
    return 0
  fi
  if [ -c "$ksu_wd_devpath" ]; then
    ksu_wd_what=device
  elif [ -f "$ksu_wd_devpath" ]; then
    ksu_wd_what='regular file (not a device: it protects nothing)'
  else
    ksu_wd_not_regular "$ksu_wd_devpath"
    [ "$ksu_wd_why" = 'not a regular file' ] && ksu_wd_why='not a character device'
    ksu_wd_log "cannot use the kernel watchdog $ksu_wd_dev ($ksu_wd_why): going on without it; the deadline still reboots"
    return 0
  fi
  if { command exec 3>"$ksu_wd_devpath"; } 2>/dev/null; then
    ksu_wd_hw=1
    ksu_wd_log "kernel watchdog $ksu_wd_dev opened ($ksu_wd_what): it resets the device if this watchdog stops petting it"
  else
    ksu_wd_log "cannot open the kernel watchdog $ksu_wd_dev for writing (no driver behind it, busy, or read-only): going on without it; the deadline still reboots"
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
  ksu_wd_env_lost=
  while :; do
    ksu_wd_tick
    ksu_wd_grubenv
    # Disarm only on what the agent writes when it commits or rolls back: a valid block
    # with boot_success=1. A block read while being rewritten is not taken for a commit.
    if [ "$ksu_wd_env_ok" = 1 ] && [ "$ksu_wd_success" = 1 ]; then
      ksu_wd_hw_close
      if [ "$ksu_wd_bl" = tryboot ]; then
        ksu_wd_log "boot committed (autoboot.txt: [all] = [tryboot] = slot $ksu_wd_all) after $ksu_wd_now s: disarmed"
      else
        ksu_wd_log "boot committed (boot_success=1, active_slot=$(ksu_wd_slot)) after $ksu_wd_now s: disarmed"
      fi
      return 0
    fi
    if [ "$ksu_wd_env_ok" = 1 ]; then
      [ -n "$ksu_wd_env_lost" ] && ksu_wd_log "$ksu_wd_bl environment $ksu_wd_env reads again"
      ksu_wd_env_lost=
    elif [ -z "$ksu_wd_env_lost" ]; then
      ksu_wd_env_lost=1
      ksu_wd_log "$ksu_wd_bl environment $ksu_wd_env unreadable while armed ($ksu_wd_env_why): not taken for a commit, still rebooting at the deadline"
    fi
    if [ "$ksu_wd_now" -ge "$ksu_wd_deadline" ]; then
      if [ "$ksu_wd_bl" = tryboot ]; then
        ksu_wd_t="[all] is slot $ksu_wd_all"
        [ "$ksu_wd_env_ok" = 1 ] || ksu_wd_t="unreadable: $ksu_wd_env_why"
        ksu_wd_log "slot $ksu_wd_running still not committed ${ksu_wd_now} s after boot (commit_deadline ${ksu_wd_deadline} s; autoboot.txt $ksu_wd_t): rebooting without the tryboot flag, so the firmware boots [all], the committed slot"
      elif [ "$ksu_wd_env_ok" = 1 ]; then
        ksu_wd_log "slot $ksu_wd_running still not committed ${ksu_wd_now} s after boot (commit_deadline ${ksu_wd_deadline} s; boot_success=$ksu_wd_success boot_counter=${ksu_wd_counter:-unset}): rebooting so GRUB counts the try"
      else
        ksu_wd_log "slot $ksu_wd_running: GRUB environment $ksu_wd_env ($ksu_wd_env_why) unreadable at the commit deadline (${ksu_wd_now} s): rebooting, GRUB will boot its defaults"
      fi
      ksu_wd_hw_pet
      ksu_wd_reboot
      return 0
    fi
    ksu_wd_hw_pet
    # Sleep one poll interval, or only what is left until the deadline. Only a sleep
    # that completed counts for ksu_wd_tick's own clock (counting a failed one would
    # bring the reboot forward).
    ksu_wd_left_ms=$(((ksu_wd_deadline - ksu_wd_now) * 1000))
    if [ "$ksu_wd_left_ms" -lt "$ksu_wd_poll_ms" ]; then
      ksu_wd_nap=$((ksu_wd_left_ms / 1000)) ksu_wd_nap_ms=$ksu_wd_left_ms
    else
      ksu_wd_nap=$ksu_wd_poll ksu_wd_nap_ms=$ksu_wd_poll_ms
    fi
    if sleep "$ksu_wd_nap" 2>/dev/null; then
      ksu_wd_slept_ms=$ksu_wd_nap_ms
    elif [ "$ksu_wd_poll" != 5 ]; then
      # e.g. a `sleep` that takes whole seconds only: never spin.
      ksu_wd_log "sleep $ksu_wd_nap failed: polling every 5 s"
      ksu_wd_poll=5 ksu_wd_poll_ms=5000
    fi
  done
}

# ksu_wd_backstop PID SECONDS: the watchdog's own watchdog, a second background process
# that reads no file and writes nothing before it reboots, so nothing it finds can
# block it. If the watchdog (PID) still runs SECONDS after arming (its deadline plus a
# grace, by this process's own count of 1 s sleeps), something blocked it (a FIFO
# swapped in between a check and a read, a console pipe nobody empties): it reboots.
# It ends within a second of the watchdog's end (disarmed, rebooted, or stopped by
# hand with kill), so it never outlives it.
ksu_wd_backstop() {
  ksu_wd_b=0
  while kill -0 "$1" 2>/dev/null; do
    if [ "$ksu_wd_b" -ge "$2" ]; then
      # Logged by a child of its own: writing may block too, the reboot must not wait.
      (ksu_wd_log "the watchdog (pid $1) still runs $2 s after arming, past its deadline: it is stuck (a blocked read or write); rebooting") </dev/null &
      ksu_wd_reboot
      return 0
    fi
    sleep 1 || return 0
    ksu_wd_b=$((ksu_wd_b + 1))
  done
}

# ksu_wd_poll_ms TEXT: KUBESOLO_UPDATE_WATCHDOG_POLL in milliseconds into ksu_wd_poll_ms:
# N or N.D, N.DD, N.DDD seconds, from 0.01 to 60; false for anything else (`abc` or `0`
# would make the loop spin, and more than 60 s between pets outlasts the timeout of
# most kernel watchdog devices).
ksu_wd_poll_ms() {
  ksu_wd_p=${1%%.*} ksu_wd_f=
  case $1 in *.*) ksu_wd_f=${1#*.} ksu_wd_f=${ksu_wd_f}00 ksu_wd_f=${ksu_wd_f%"${ksu_wd_f#???}"} ;; esac
  case $1 in *.*.* | *. | *.????*) return 1 ;; esac
  ksu_wd_int "$ksu_wd_p" 2 || return 1
  ksu_wd_p=$ksu_wd_i
  case $1 in *.*) ksu_wd_int "$ksu_wd_f" 3 || return 1 ;; *) ksu_wd_i=0 ;; esac
  ksu_wd_poll_ms=$((ksu_wd_p * 1000 + ksu_wd_i))
  [ "$ksu_wd_poll_ms" -ge 10 ] && [ "$ksu_wd_poll_ms" -le 60000 ]
}

# ksu_wd_running_SLOT WHAT: the slot the kernel was booted from (kubesolo.slot= on its
# command line) into ksu_wd_running, empty when it names none; WHAT says in the log what
# the stage does instead when the command line cannot be read. The kernel caps its
# command line at a few KiB; the agent reads at most 64 KiB of it.
ksu_wd_running_slot() {
  ksu_wd_running=
  ksu_wd_cmdline=$ksu_wd_root/proc/cmdline
  if ksu_wd_small "$ksu_wd_cmdline" 65536; then
    ksu_wd_running=$(sed -n 's/.*kubesolo\.slot=\([AB]\).*/\1/p' "$ksu_wd_cmdline" 2>/dev/null)
  elif [ "$ksu_wd_why" != missing ]; then
    ksu_wd_log "cannot read the kernel command line $ksu_wd_cmdline ($ksu_wd_why): $1"
  fi
}

# ksu_wd_counted_trial: GRUB and U-Boot. True (armed, ksu_wd_running set) when the
# environment says a slot is on trial and that slot runs; false, logged, otherwise.
ksu_wd_counted_trial() {
  if [ "$ksu_wd_env_ok" != 1 ]; then
    # Not armed: GRUB reads a missing or damaged block as no variables, so it booted
    # no trial; and a block this stage cannot read says nothing either way, where
    # arming on a guess could reboot a committed system at every deadline.
    case $ksu_wd_env_state in
      missing) ksu_wd_log "no $ksu_wd_bl environment at $ksu_wd_env: $ksu_wd_bl boots without one, so this is no update trial boot: not armed" ;;
      damaged) ksu_wd_log "$ksu_wd_bl environment $ksu_wd_env is damaged ($ksu_wd_env_why): $ksu_wd_bl reads it as no variables, so this is no update trial boot: not armed" ;;
      *) ksu_wd_log "cannot read the $ksu_wd_bl environment $ksu_wd_env ($ksu_wd_env_why): cannot tell whether this is an update trial boot: not armed" ;;
    esac
    return 1
  fi
  if ! ksu_wd_on_trial; then
    ksu_wd_say "not an update trial boot (boot_success=${ksu_wd_success:-unset}): not armed"
    return 1
  fi
  ksu_wd_trial=$(ksu_wd_slot)
  ksu_wd_running_slot "taking slot $ksu_wd_trial, the one on trial, as the running one"
  if [ -n "$ksu_wd_running" ] && [ "$ksu_wd_running" != "$ksu_wd_trial" ]; then
    # GRUB could not record the try (save_env failed) or the other slot was chosen by
    # hand: rebooting would not count anything and could loop forever.
    ksu_wd_log "slot $ksu_wd_trial is on trial but slot $ksu_wd_running is running: not armed"
    return 1
  fi
  ksu_wd_running=${ksu_wd_running:-$ksu_wd_trial}
}

# ksu_wd_tryboot_trial: the Raspberry Pi (bootloader=rpi-tryboot). True (armed,
# ksu_wd_running set) when this boot is the firmware's one try of the slot pending in
# autoboot.txt's [tryboot], decided as the agent decides it (tryboot-bootenv.ts): the
# running slot is the pending one, or, where the command line names no slot, the
# firmware's tryboot flag is set. There is no counter: the watchdog's ordinary reboot
# clears the flag, so the firmware boots [all], the committed slot. That is also why a
# set flag arms it even when autoboot.txt cannot be read (where GRUB and U-Boot stay
# unarmed): the reboot cannot start a trial again, so it costs at most one reboot,
# while staying unarmed could leave a hung uncommitted slot running for good (the
# agent, unable to read the file too, could not commit it).
ksu_wd_tryboot_trial() {
  ksu_wd_tryboot_flag
  ksu_wd_running_slot "deciding by the firmware's tryboot flag ($ksu_wd_flag)"
  if [ "$ksu_wd_env_ok" != 1 ]; then
    if [ "$ksu_wd_flag" = 1 ]; then
      ksu_wd_log "cannot read autoboot.txt $ksu_wd_env ($ksu_wd_env_why), but the firmware's tryboot flag says this boot is its one try: arming (an ordinary reboot boots [all], the committed slot)"
      ksu_wd_running=${ksu_wd_running:-?}
      return 0
    fi
    case $ksu_wd_env_state in
      missing) ksu_wd_log "no autoboot.txt at $ksu_wd_env and no tryboot flag: no update trial boot: not armed" ;;
      *) ksu_wd_log "cannot read autoboot.txt $ksu_wd_env ($ksu_wd_env_why) and no tryboot flag: the firmware booted no trial: not armed" ;;
    esac
    return 1
  fi
  if [ "$ksu_wd_success" = 1 ]; then
    ksu_wd_say "not an update trial boot (autoboot.txt: nothing pending, [all] = [tryboot] = slot $ksu_wd_all): not armed"
    return 1
  fi
  if [ -n "$ksu_wd_running" ]; then
    [ "$ksu_wd_running" = "$ksu_wd_active" ] && ksu_wd_why=running || ksu_wd_why="slot $ksu_wd_running runs"
  else
    [ "$ksu_wd_flag" = 1 ] && ksu_wd_why=running || ksu_wd_why='the tryboot flag is not set'
  fi
  if [ "$ksu_wd_why" != running ]; then
    ksu_wd_log "slot $ksu_wd_active is pending in [tryboot], but this boot is not its try ($ksu_wd_why): the firmware booted [all], slot $ksu_wd_all: not armed"
    return 1
  fi
  ksu_wd_running=$ksu_wd_active
}

ksu_wd_main() {
  ksu_wd_root=${KUBESOLO_ROOT:-}
  [ "$ksu_wd_root" = / ] && ksu_wd_root=
  ksu_wd_conf=$ksu_wd_root${KUBESOLO_UPDATE_CONF:-/etc/kubesolo/update.conf}
  ksu_wd_clock_name= ksu_wd_now= ksu_wd_ms=0 ksu_wd_slept_ms=0 ksu_wd_log_refused=
  ksu_wd_log_trim
  ksu_wd_tick

  ksu_wd_poll=${KUBESOLO_UPDATE_WATCHDOG_POLL:-5}
  if ! ksu_wd_poll_ms "$ksu_wd_poll"; then
    ksu_wd_log "invalid KUBESOLO_UPDATE_WATCHDOG_POLL '$ksu_wd_poll' (want seconds, 0.01 to 60): using 5"
    ksu_wd_poll=5 ksu_wd_poll_ms=5000
  fi

  ksu_wd_read_conf
  ksu_wd_env=$ksu_wd_root${ksu_wd_c_grubenv:-/boot/grub/grubenv} ksu_wd_bl=GRUB
  case $ksu_wd_c_bootloader in
    uboot)
      ksu_wd_env=$ksu_wd_root${ksu_wd_c_uboot_env_config:-/etc/kubesolo/fw_env.config}
      ksu_wd_bl=U-Boot # $ksu_wd_env is its fw_env.config
      ;;
    rpi-tryboot)
      ksu_wd_env=$ksu_wd_root${ksu_wd_c_autoboot_txt:-/boot/firmware/autoboot.txt}
      ksu_wd_bl=tryboot # $ksu_wd_env is autoboot.txt
      ;;
  esac
  if [ -n "$ksu_wd_deadline_bad" ]; then
    ksu_wd_log "invalid commit_deadline '$ksu_wd_deadline_bad' in $ksu_wd_conf (want 0, or 30s..24h as N, Ns, Nm or Nh): using 15m"
    ksu_wd_deadline=900
  else
    ksu_wd_seconds "${ksu_wd_c_deadline:-15m}"
    ksu_wd_deadline=$ksu_wd_secs
  fi

  ksu_wd_grubenv
  if [ "$ksu_wd_c_bootloader" = rpi-tryboot ]; then
    ksu_wd_tryboot_trial || return 0
  else
    ksu_wd_counted_trial || return 0
  fi
  if [ "$ksu_wd_deadline" -eq 0 ]; then
    ksu_wd_log "slot $ksu_wd_running is on trial, but commit_deadline=0: not armed"
    return 0
  fi

  # The pid file tells a second start in this boot that a watchdog is armed. 4096
  # bytes at most, as the agent reads its run lock's pid file.
  ksu_wd_pidfile=$ksu_wd_root/run/kubesolo-update/watchdog.pid
  if ksu_wd_small "$ksu_wd_pidfile" 4096; then
    ksu_wd_pid=
    read -r ksu_wd_pid <"$ksu_wd_pidfile" 2>/dev/null
    # Digits only: `kill -0 -1` would ask about every process.
    if ksu_wd_int "$ksu_wd_pid" 10 && kill -0 "$ksu_wd_i" 2>/dev/null; then
      ksu_wd_say "already armed (pid $ksu_wd_i)"
      return 0
    fi
    # Stale: gone now, so the wait below cannot take it for the new one.
    rm -f "$ksu_wd_pidfile"
  fi
  # Without a usable pid file the watchdog still arms, loudly: a hung trial must be
  # rebooted, and a second watchdog (if the stage runs twice) only reboots once more.
  if ! mkdir -p "${ksu_wd_pidfile%/*}" 2>/dev/null; then
    ksu_wd_log "cannot create ${ksu_wd_pidfile%/*} (is $ksu_wd_root/run a directory?): arming without a pid file"
    ksu_wd_pidfile=
  elif [ -e "$ksu_wd_pidfile" ] && [ ! -f "$ksu_wd_pidfile" ]; then
    ksu_wd_log "$ksu_wd_pidfile is not a regular file: arming without a pid file"
    ksu_wd_pidfile=
  fi

  if [ "$ksu_wd_bl" = tryboot ]; then
    ksu_wd_log "slot $ksu_wd_running is on trial (tryboot, the firmware's one try; [all] is slot ${ksu_wd_all:-unknown}): armed, reboot unless committed ${ksu_wd_deadline} s after boot"
  else
    ksu_wd_log "slot $ksu_wd_running is on trial (boot_counter=${ksu_wd_counter:-unset}): armed, reboot unless committed ${ksu_wd_deadline} s after boot"
  fi
  (
    trap '' HUP PIPE # init's session ending, or nobody reading its console pipe
    ksu_wd_wait
    if [ -n "$ksu_wd_pidfile" ]; then
      # Only the stage knows this subshell's pid ($!), so it writes the pid file right
      # after the fork. A wait that ends at once must not remove it before it is
      # written (that would leave a stale one behind): wait for it, 5 s at most.
      ksu_wd_n=0
      while [ ! -s "$ksu_wd_pidfile" ] && [ $ksu_wd_n -lt 5 ]; do
        sleep 1
        ksu_wd_n=$((ksu_wd_n + 1))
      done
      rm -f "$ksu_wd_pidfile"
    fi
  ) </dev/null &
  ksu_wd_pid=$!
  if [ -n "$ksu_wd_pidfile" ]; then
    # Whole through a rename: a second start never reads an empty file. The rm first
    # takes away whatever was left at the temporary name (a FIFO there would block).
    rm -f "$ksu_wd_pidfile.tmp" 2>/dev/null
    if ! { echo "$ksu_wd_pid" >"$ksu_wd_pidfile.tmp" && mv -f "$ksu_wd_pidfile.tmp" "$ksu_wd_pidfile"; } 2>/dev/null; then
      ksu_wd_log "cannot write $ksu_wd_pidfile: armed without a pid file"
    fi
  fi
  # The backstop's grace: what the watchdog may still need after its deadline, so one
  # that is only slow (a loaded boot) or rebooting is never taken for a stuck one: two
  # looks and 10 s, and the minute its own `reboot` waits before `reboot -f` (not with
  # KUBESOLO_UPDATE_REBOOT_COMMAND): 80 s with the defaults.
  ksu_wd_grace=$((10 + (2 * ksu_wd_poll_ms + 999) / 1000))
  [ -n "$KUBESOLO_UPDATE_REBOOT_COMMAND" ] || ksu_wd_grace=$((ksu_wd_grace + 60))
  (
    trap '' HUP PIPE
    ksu_wd_backstop "$ksu_wd_pid" $((ksu_wd_deadline - ksu_wd_now + ksu_wd_grace))
  ) </dev/null &
  return 0
}

ksu_wd_main
