// Write a U-Boot environment image (one copy) with the project's codec
// (src/bootenv/uboot-env.ts), the code the agent reads and writes it with on a device.
// Loads the TypeScript source, so run it with the tsx loader (a dev dependency):
//   node --import tsx boot/e2e-arm64/write-ubootenv.mjs FILE SIZE key=value...
import { writeFileSync } from 'node:fs';
import { serializeUbootEnv, sortedVars } from '../../src/bootenv/uboot-env.ts';

const [file, sizeText, ...pairs] = process.argv.slice(2);
const size = Number(sizeText);
if (file === undefined || !Number.isInteger(size) || size <= 0) {
  console.error('usage: write-ubootenv.mjs FILE SIZE key=value...');
  process.exit(2);
}
const vars = new Map();
for (const p of pairs) {
  const i = p.indexOf('=');
  if (i <= 0) {
    console.error(`not key=value: ${p}`);
    process.exit(2);
  }
  vars.set(p.slice(0, i), p.slice(i + 1));
}
writeFileSync(file, serializeUbootEnv(sortedVars(vars), { size, redundant: false }));
