/**
 * Units (docs/delta.md "Units"): a repacked image's content is one gzip member whose
 * deflate stream is ended by a full flush after every unit, so each unit's compressed
 * bytes depend on its content only and decompress on their own. The kernel reads such
 * a member like any other (cuts may fall inside a file: one member, one archive). zstd
 * frames would be smaller, but the kernel ends a compressed archive at every frame
 * and refuses one that ends inside a file (bench/delta/FINDINGS.md, the boot check).
 *
 * zlib is deterministic for a given version and level on every architecture (checked
 * on x64 and arm64); a device that rebuilds a unit checks it against the index anyway
 * and fetches it when it differs.
 */
import { promisify } from 'node:util';
import { constants as Z, deflateRaw, deflateRawSync, inflateRaw, inflateRawSync } from 'node:zlib';

/** A final, empty, fixed-Huffman deflate block: ends a repacked gzip stream after its last unit. */
export const FINAL_BLOCK = Buffer.from([0x03, 0x00]);
/** What a full flush leaves at the end of a unit: an empty stored block. */
export const FLUSH_MARKER = Buffer.from([0x00, 0x00, 0xff, 0xff]);

const deflateRawAsync = promisify(deflateRaw);
const inflateRawAsync = promisify(inflateRaw);

/**
 * A unit's content. A unit starts a fresh deflate stream (the one before it ended with
 * a full flush) and ends at a block boundary, so the unit followed by a final empty
 * block is a complete raw deflate stream: inflating it with Z_FINISH fails for bytes
 * cut anywhere else (a marker that was only data).
 */
export function unitContent(bytes: Uint8Array, maxOutputLength: number): Buffer {
  return inflateRawSync(Buffer.concat([bytes, FINAL_BLOCK]), { maxOutputLength });
}

export function unitContentAsync(bytes: Uint8Array, maxOutputLength: number): Promise<Buffer> {
  return inflateRawAsync(Buffer.concat([bytes, FINAL_BLOCK]), { maxOutputLength });
}

/** A unit from its content: what `repack` writes, and a device rebuilds. */
export function compressUnit(content: Uint8Array, level: number): Buffer {
  return deflateRawSync(content, { level, finishFlush: Z.Z_FULL_FLUSH });
}

export function compressUnitAsync(content: Uint8Array, level: number): Promise<Buffer> {
  return deflateRawAsync(content, { level, finishFlush: Z.Z_FULL_FLUSH });
}

/** Whether a unit holds a full-flush marker before its end (it would be cut there). */
export function hasInnerMarker(unit: Uint8Array): boolean {
  const at = Buffer.from(unit.buffer, unit.byteOffset, unit.byteLength).indexOf(FLUSH_MARKER);
  return at >= 0 && at < unit.length - FLUSH_MARKER.length;
}
