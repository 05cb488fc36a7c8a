/**
 * Shell for the guest's control script (busybox sh, run by boot/e2e/init from the
 * control disk). Every result goes to the console as a `KSOLO-E2E: ` line.
 */
import assert from 'node:assert/strict';
import type { BootResult } from './qemu.js';

/** Sourced by every control script. */
export const GUEST_LIB = String.raw`
mark() { echo "KSOLO-E2E: $*"; }

# agent NAME ARGS...: run kubesolo-update, report rc, stdout (one line) and its log.
agent() {
  name=$1; shift
  kubesolo-update "$@" > /tmp/$name.out 2> /tmp/$name.err
  rc=$?
  sed 's/^/KSOLO-E2E: '$name'-log /' /tmp/$name.err
  mark "$name-out $(tr -d '\n' < /tmp/$name.out)"
  mark "$name rc=$rc"
  return $rc
}

# serve DIR: kubesolo-release serve on the guest's loopback, wait until it answers.
serve() {
  kubesolo-release serve "$1" --listen 127.0.0.1:8080 > /tmp/serve.log 2>&1 &
  i=0
  until wget -q -O /dev/null http://127.0.0.1:8080/latest.json; do
    i=$((i + 1))
    if [ $i -gt 120 ]; then mark "serve failed"; cat /tmp/serve.log; return 1; fi
    sleep 0.5
  done
  mark "serve up"
}

# cut_when DESCRIPTION CONDITION [INFO]: in the background, wait until CONDITION (a
# shell expression) holds, freeze the agent (SIGSTOP: it makes no further progress),
# report INFO (a command) and the state file, and ask the host to cut the power: the
# host kills QEMU on the "cut-now" line.
cut_when() {
  (
    desc=$1; cond=$2; info=$3; [ -n "$info" ] || info=true
    until eval "$cond"; do sleep 0.05; done
    for p in $(pidof node); do
      grep -q kubesolo-update /proc/$p/cmdline 2>/dev/null && kill -STOP $p
    done
    mark "cut-info $desc $(eval "$info" 2>&1 | tr '\n' ' ')"
    mark "cut-state $desc $(tr -d '\n' < /var/lib/kubesolo/update/state.json 2>/dev/null)"
    mark "cut-now $desc"
    sleep 600
  ) &
}

# with_slot SLOT CMD...: run CMD with $dir set to the slot's files: where the slot is
# mounted already, else mounted read-only for the command.
with_slot() {
  slot=$1; shift
  dir=$(awk -v l="KSOLO$slot" '$1 ~ l {print $2}' /proc/mounts | head -n1)
  own=
  if [ -z "$dir" ]; then
    dir=/mnt/check; own=1
    mkdir -p $dir
    mount -o ro /dev/disk/by-label/KSOLO$slot $dir || { mark "slot $slot unmountable"; return 1; }
  fi
  "$@"
  [ -z "$own" ] || umount $dir
}

# slot_hashes SLOT: sha256 of a slot's files, read from its partition.
print_hashes() {
  for f in vmlinuz kubesolo-os.gz version; do
    mark "slot-hash $slot $f $(sha256sum $dir/$f 2>/dev/null | cut -d' ' -f1)"
  done
}
slot_hashes() { with_slot "$1" print_hashes; }

# slot_version SLOT: the slot's version file.
print_version() { mark "slot-version $slot $(cat $dir/version 2>/dev/null)"; }
slot_version() { with_slot "$1" print_version; }
`;

export function script(body: string): string {
  return `${GUEST_LIB}\n${body}\n`;
}

/** The JSON a command printed on stdout in the guest (the `NAME-out` line). */
export function jsonOut(r: BootResult, name: string): Record<string, unknown> {
  const prefix = `${name}-out `;
  const line = r.marks.find((m) => m.startsWith(prefix));
  assert.ok(
    line !== undefined,
    `no ${name} output on the console; marks: ${JSON.stringify(r.marks)}`,
  );
  const text = line.slice(prefix.length);
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch {
    assert.fail(`${name} printed no JSON: ${text}`);
  }
}

/** sha256 of each file of a slot, as slot_hashes printed them ('' for a missing file). */
export function slotHashes(r: BootResult, slot: 'A' | 'B'): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of r.marks) {
    const parts = m.split(' ');
    if (parts[0] === 'slot-hash' && parts[1] === slot && parts[2]) out[parts[2]] = parts[3] ?? '';
  }
  assert.ok(Object.keys(out).length > 0, `no slot_hashes ${slot} output`);
  return out;
}

/** Exit code of a command run with agent() in the guest. */
export function rc(r: BootResult, name: string): number {
  const line = r.marks.find((m) => m.startsWith(`${name} rc=`));
  assert.ok(line !== undefined, `${name} did not finish; marks: ${JSON.stringify(r.marks)}`);
  return Number(line.slice(`${name} rc=`.length));
}

/** `status --json` (docs/design.md §3.5), the members the scenarios look at. */
export interface Status {
  active_slot: string;
  passive_slot: string;
  running_slot: string | null;
  boot_counter: number;
  boot_success: boolean;
  slots: Record<'A' | 'B', { version: string | null }>;
  state: {
    phase: string;
    reason?: string | null;
    from_version?: string | null;
    to_version?: string | null;
    target_slot?: string | null;
    last_error?: string | null;
    attempt_count?: number;
    health_check_failures?: number;
  };
}

/** The `status --json` a control script printed with `agent NAME status --json`. */
export function statusOut(r: BootResult, name = 'status'): Status {
  return jsonOut(r, name) as unknown as Status;
}

/** The boot-time `status --json` the init printed (after its health check). */
export function bootStatus(r: BootResult): Status {
  const line = r.marks.find((m) => m.startsWith('status {'));
  assert.ok(line !== undefined, `no status on the console; marks: ${JSON.stringify(r.marks)}`);
  return JSON.parse(line.slice('status '.length)) as Status;
}
