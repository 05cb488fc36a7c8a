/**
 * Node's process.arch → Go's GOARCH names, used by latest.json and OCI platforms. The
 * table lives with the build's identity (src/version.ts, the base layer), which the
 * User-Agent of the lower layers needs too.
 */
export { goArch } from '../version.js';
