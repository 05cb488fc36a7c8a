/** Command output on stdout: human text, or one JSON document with --json. */
export interface Output {
  readonly json: boolean;
  /** Print a line of human output (suppressed in --json mode). */
  line(text?: string): void;
  /** Print a JSON document (only in --json mode). */
  data(value: unknown): void;
}

export function createOutput(
  json: boolean,
  stream: NodeJS.WritableStream = process.stdout,
): Output {
  return {
    json,
    line(text = '') {
      if (!json) stream.write(text + '\n');
    },
    data(value) {
      if (json) stream.write(JSON.stringify(value, null, 2) + '\n');
    },
  };
}
