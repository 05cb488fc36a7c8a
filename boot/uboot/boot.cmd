# KubeSolo OS A/B boot for U-Boot (docs/boot.md "U-Boot"; docs/design.md §2, §3.6).
# boot/uboot/mkbootscr turns it into boot.scr (mkimage); U-Boot's distro boot runs it
# from the boot partition, with devtype, devnum and distro_bootpart set to where it
# found it.
#
# The rules are boot/grub.cfg's, with the same variables: docs/boot.md's state table is
# the one specification of both, and src/bootenv/uboot-sim.ts models this script step
# by step for simulated devices. Change them together.
#   active_slot   A|B   the slot to boot (missing or anything but B: A)
#   boot_success  0|1   1 (or missing): committed; anything else: on trial
#   boot_counter  3..0  boots left for a slot on trial (missing: 3)
#   kubesolo_console    optional: the console= arguments (default: none, so Linux uses
#                       the device tree's stdout-path)
#
# Where the variables live: the first lines of boot.scr (mkbootscr) set
#   kubesolo_envfile  empty: U-Boot's own environment, saved with saveenv
#                     a file name: an environment file on this boot partition, in
#                     U-Boot's binary format (CRC32, one copy) of kubesolo_envsize
#                     bytes, read with `env import -c` and written with `env export -c`
#                     and fatwrite, as U-Boot built with CONFIG_ENV_IS_IN_FAT keeps its
#                     uboot.env. Holds active_slot, boot_counter, boot_success and
#                     kubesolo_console.
# The agent reads and writes the same place (update.conf bootloader=uboot, fw_env.config).
#
# Slots: the GPT partitions named KSOLOA and KSOLOB on the device this script came from,
# each with /vmlinuz (an arm64 Image, booti's format) and /kubesolo-os.gz.
#
# U-Boot's hush: `name=value` sets a shell variable, which saveenv and env export never
# store; setenv sets the environment. No arithmetic: the count-down is an if-chain, as
# in grub.cfg. Lines for tests and logs start with "KubeSolo: ".

# The variables: from the environment file, or already in U-Boot's environment.
if test -n "${kubesolo_envfile}"; then
  # Only the file counts: drop what U-Boot's own environment may hold.
  setenv active_slot
  setenv boot_success
  setenv boot_counter
  if load ${devtype} ${devnum}:${distro_bootpart} ${kernel_addr_r} ${kubesolo_envfile} && env import -c ${kernel_addr_r} ${kubesolo_envsize}; then
    echo "KubeSolo: A/B variables from ${kubesolo_envfile}"
  else
    # Missing, or a bad CRC (a torn write): the defaults, as U-Boot does with its own
    # environment. Nothing is saved on a committed boot, so the file stays as it is.
    echo "KubeSolo: ${kubesolo_envfile} missing or damaged: slot A, committed"
  fi
fi

if test "${active_slot}" = "B"; then
  kubesolo_slot=B
  kubesolo_other=A
else
  kubesolo_slot=A
  kubesolo_other=B
fi
kubesolo_counter="${boot_counter}"
if test -z "${kubesolo_counter}"; then
  kubesolo_counter=3
fi

kubesolo_trial=1
if test -z "${boot_success}"; then
  kubesolo_trial=0
fi
if test "${boot_success}" = "1"; then
  kubesolo_trial=0
fi

kubesolo_action=boot
if test "${kubesolo_trial}" = "1"; then
  kubesolo_next=
  if test "${kubesolo_counter}" = "3"; then
    kubesolo_next=2
  fi
  if test "${kubesolo_counter}" = "2"; then
    kubesolo_next=1
  fi
  if test "${kubesolo_counter}" = "1"; then
    kubesolo_next=0
  fi
  if test -n "${kubesolo_next}"; then
    setenv boot_counter ${kubesolo_next}
    kubesolo_action=trial
  else
    # Tries used up (0, or a value we never write) and the slot never became good: go
    # back to the other slot, the last good one, and trust it, so the device never
    # ping-pongs between two broken slots.
    setenv active_slot ${kubesolo_other}
    setenv boot_success 1
    setenv boot_counter 3
    kubesolo_action=fallback
    kubesolo_swap=${kubesolo_slot}
    kubesolo_slot=${kubesolo_other}
    kubesolo_other=${kubesolo_swap}
    echo "KubeSolo: slot ${kubesolo_other} did not become good; falling back to slot ${kubesolo_slot}"
  fi
fi

# Record a try (or a fallback) before taking it.
if test "${kubesolo_action}" != "boot"; then
  kubesolo_saved=0
  if test -n "${kubesolo_envfile}"; then
    if env export -c -s ${kubesolo_envsize} ${kernel_addr_r} active_slot boot_counter boot_success kubesolo_console && fatwrite ${devtype} ${devnum}:${distro_bootpart} ${kernel_addr_r} ${kubesolo_envfile} ${kubesolo_envsize}; then
      kubesolo_saved=1
    fi
  else
    if saveenv; then
      kubesolo_saved=1
    fi
  fi
  if test "${kubesolo_action}" = "trial"; then
    if test "${kubesolo_saved}" = "1"; then
      echo "KubeSolo: slot ${kubesolo_slot} on trial, ${boot_counter} tries left after this one"
    else
      # An unrecorded try could repeat forever: do not take it.
      echo "KubeSolo: cannot record the try of slot ${kubesolo_slot}; booting slot ${kubesolo_other}"
      kubesolo_action=trial-unrecorded
      kubesolo_swap=${kubesolo_slot}
      kubesolo_slot=${kubesolo_other}
      kubesolo_other=${kubesolo_swap}
    fi
  fi
fi
echo "KubeSolo: decision action=${kubesolo_action} slot=${kubesolo_slot}"

# Boot the chosen slot; if its partition or files are missing, the other one, without
# changing the environment (grub.cfg's menu fallback).
for kubesolo_try in ${kubesolo_slot} ${kubesolo_other}; do
  if part number ${devtype} ${devnum} KSOLO${kubesolo_try} kubesolo_part; then
    if load ${devtype} ${devnum}:${kubesolo_part} ${kernel_addr_r} /vmlinuz; then
      if load ${devtype} ${devnum}:${kubesolo_part} ${ramdisk_addr_r} /kubesolo-os.gz; then
        setenv bootargs "kubesolo.slot=${kubesolo_try} panic=10 ${kubesolo_console}"
        echo "KubeSolo: booting slot ${kubesolo_try}"
        if test -n "${fdt_addr}"; then
          booti ${kernel_addr_r} ${ramdisk_addr_r}:${filesize} ${fdt_addr}
        else
          booti ${kernel_addr_r} ${ramdisk_addr_r}:${filesize} ${fdtcontroladdr}
        fi
      fi
    fi
  fi
  echo "KubeSolo: slot ${kubesolo_try} cannot be booted"
done
echo "KubeSolo: no bootable slot"
