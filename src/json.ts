/**
 * The one way a JSON document that must be an object is read (the device's records,
 * a docker config.json): JSON.parse, then not null, not an array, not a bare value.
 * Callers word the refusal for their own file and reason code.
 */
export type JsonObjectRead =
  | { doc: Record<string, unknown> }
  | { problem: 'not-json'; cause: unknown }
  | { problem: 'not-object' };

export function parseJsonObject(text: string): JsonObjectRead {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (cause) {
    return { problem: 'not-json', cause };
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    return { problem: 'not-object' };
  }
  return { doc: doc as Record<string, unknown> };
}
