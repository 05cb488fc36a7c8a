// Write a GRUB environment block with the project's codec (src/bootenv/grubenv.ts), the
// same code the agent writes it with on a device. Loads the TypeScript source, so run it
// with the tsx loader (a dev dependency):
//   node --import tsx boot/e2e/write-grubenv.mjs FILE key=value...
import { writeGrubEnvFile } from '../../src/bootenv/grubenv.ts';

const [file, ...pairs] = process.argv.slice(2);
if (file === undefined) {
  console.error('usage: write-grubenv.mjs FILE key=value...');
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
await writeGrubEnvFile(file, vars);
