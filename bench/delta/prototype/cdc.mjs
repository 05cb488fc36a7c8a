// FastCDC-style content-defined chunking (Xia et al., USENIX ATC 2016: gear hash,
// normalized chunking with a stricter mask before the average size and a looser one
// after it). Minimum avg/4, maximum avg*4, as casync uses. Measurement tool only.
import { createHash } from 'node:crypto';

// 256 gear values from SHA-256 of their index: fixed, so cut points are reproducible.
const GEAR = new Uint32Array(256);
for (let i = 0; i < 256; i++) {
  GEAR[i] = createHash('sha256').update(`gear${i}`).digest().readUInt32LE(0);
}

// A mask with `bits` one-bits spread over the high half of the 32-bit hash (the high bits
// have seen the most bytes: each step shifts left by one).
function spreadMask(bits) {
  let mask = 0;
  const step = Math.max(1, Math.floor(24 / bits));
  for (let i = 0, b = 31; i < bits && b >= 0; i++, b -= step) mask |= 1 << b;
  return mask >>> 0;
}

export function params(avg) {
  const bits = Math.round(Math.log2(avg));
  return {
    avg,
    min: avg >> 2,
    max: avg << 2,
    maskS: spreadMask(bits + 2), // before avg: cuts are rarer
    maskL: spreadMask(bits - 2), // after avg: cuts are likelier
  };
}

/**
 * Cut points (exclusive end offsets) of buf[start, end), relative to buf. The last cut
 * is always `end`.
 */
export function cuts(buf, start, end, p) {
  const out = [];
  let at = start;
  while (at < end) {
    const left = end - at;
    if (left <= p.min) {
      out.push(end);
      break;
    }
    const hardEnd = at + Math.min(left, p.max);
    const normal = at + Math.min(left, p.avg);
    let h = 0;
    let i = at + p.min;
    let cut = hardEnd;
    for (; i < normal; i++) {
      h = ((h << 1) + GEAR[buf[i]]) >>> 0;
      if ((h & p.maskS) === 0) {
        cut = i + 1;
        break;
      }
    }
    if (cut === hardEnd && i >= normal) {
      for (; i < hardEnd; i++) {
        h = ((h << 1) + GEAR[buf[i]]) >>> 0;
        if ((h & p.maskL) === 0) {
          cut = i + 1;
          break;
        }
      }
    }
    out.push(cut);
    at = cut;
  }
  return out;
}
