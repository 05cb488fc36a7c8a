/**
 * The one line a terminal shows "in place" (download progress), shared with the
 * logger: a log line written while that line is drawn would be glued onto its end, so
 * the logger clears it first, and the next progress update draws it again below.
 */
type Stream = NodeJS.WritableStream;

const drawn = new WeakSet<Stream>();
const CLEAR = '\r\x1b[2K';

/** Replace the status line of `stream` with `text` (no newline). */
export function drawStatusLine(stream: Stream, text: string): void {
  stream.write(CLEAR + text);
  drawn.add(stream);
}

/** Erase the status line, if one is drawn, leaving the cursor at the line start. */
export function clearStatusLine(stream: Stream): void {
  if (!drawn.delete(stream)) return;
  stream.write(CLEAR);
}

/** Keep the status line as it is and move below it (the final figure stays visible). */
export function endStatusLine(stream: Stream): void {
  if (!drawn.delete(stream)) return;
  stream.write('\n');
}
