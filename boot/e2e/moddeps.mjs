#!/usr/bin/env node
// Resolve kernel modules and their dependencies, in load order, without kmod.
// Debian's linux-image package ships no modules.dep (depmod makes it when the package is
// installed, which we avoid), so read each module's own `.modinfo` section: the kernel's
// modpost writes a NUL-terminated `depends=a,b` string there (scripts/mod/modpost.c).
//
// usage: moddeps.mjs MODULES_DIR name...   → prints one path per line, dependencies first
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const [dir, ...wanted] = process.argv.slice(2);
if (!dir || wanted.length === 0) {
  console.error('usage: moddeps.mjs MODULES_DIR name...');
  process.exit(2);
}

// Module names are compared with '-' and '_' folded together, as the kernel does.
const norm = (n) => n.replace(/-/g, '_');
const index = new Map();
(function walk(d) {
  for (const e of readdirSync(d)) {
    const p = join(d, e);
    if (statSync(p).isDirectory()) walk(p);
    else if (e.endsWith('.ko')) index.set(norm(e.slice(0, -3)), p);
  }
})(dir);

function depends(path) {
  const buf = readFileSync(path);
  const at = buf.indexOf('\0depends=');
  if (at < 0) return [];
  const start = at + '\0depends='.length;
  const end = buf.indexOf(0, start);
  const value = buf.subarray(start, end).toString('latin1');
  return value === '' ? [] : value.split(',').map(norm);
}

const order = [];
const seen = new Set();
function visit(name, chain) {
  const n = norm(name);
  if (seen.has(n)) return;
  if (chain.includes(n)) throw new Error(`dependency cycle: ${[...chain, n].join(' -> ')}`);
  const path = index.get(n);
  if (!path) {
    console.error(`module not found: ${name}`);
    process.exit(1);
  }
  for (const d of depends(path)) visit(d, [...chain, n]);
  seen.add(n);
  order.push(relative(dir, path));
}
for (const w of wanted) visit(w, []);
console.log(order.join('\n'));
