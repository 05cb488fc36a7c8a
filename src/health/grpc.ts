/**
 * Just enough gRPC to ask containerd for its version over its Unix socket, with
 * node:http2 and no gRPC library:
 * - gRPC over HTTP/2 (grpc/grpc PROTOCOL-HTTP2.md): POST /{service}/{method},
 *   `content-type: application/grpc`, `te: trailers`; each message is a
 *   Length-Prefixed-Message: 1-byte compressed flag, 4-byte big-endian length, bytes;
 *   the status arrives in the `grpc-status` trailer (or in the headers of a
 *   Trailers-Only response).
 * - Protocol Buffers wire format (protobuf.dev/programming-guides/encoding): tags are
 *   varints `(field << 3) | wire_type`; strings are wire type 2 (length-delimited).
 */

/** Wrap one (uncompressed) message in a Length-Prefixed-Message. */
export function encodeGrpcMessage(message: Uint8Array): Buffer {
  const out = Buffer.alloc(5 + message.length);
  out.writeUInt8(0, 0);
  out.writeUInt32BE(message.length, 1);
  out.set(message, 5);
  return out;
}

/** Split a response body into its messages; throws on truncation or compression. */
export function decodeGrpcMessages(body: Buffer): Buffer[] {
  const messages: Buffer[] = [];
  let at = 0;
  while (at < body.length) {
    if (body.length - at < 5) throw new Error('truncated gRPC message prefix');
    const compressed = body.readUInt8(at);
    const length = body.readUInt32BE(at + 1);
    if (compressed !== 0) throw new Error('compressed gRPC message (none was offered)');
    if (body.length - at - 5 < length) throw new Error('truncated gRPC message');
    messages.push(body.subarray(at + 5, at + 5 + length));
    at += 5 + length;
  }
  return messages;
}

function readVarint(buf: Buffer, at: number): { value: number; next: number } {
  let value = 0;
  let shift = 0;
  for (let i = at; i < buf.length && i < at + 10; i++) {
    const byte = buf[i]!;
    // Values past 2^53 only occur in fields we skip; precision there does not matter.
    value += (byte & 0x7f) * 2 ** shift;
    shift += 7;
    if ((byte & 0x80) === 0) return { value, next: i + 1 };
  }
  throw new Error('malformed protobuf varint');
}

/**
 * The string fields of a protobuf message, by field number (last one wins, as in
 * proto3). Other fields are skipped by wire type.
 */
export function decodeStringFields(buf: Buffer): Map<number, string> {
  const fields = new Map<number, string>();
  let at = 0;
  while (at < buf.length) {
    const tag = readVarint(buf, at);
    at = tag.next;
    const field = Math.floor(tag.value / 8);
    const wire = tag.value % 8;
    if (wire === 0) {
      at = readVarint(buf, at).next;
    } else if (wire === 1) {
      at += 8;
    } else if (wire === 5) {
      at += 4;
    } else if (wire === 2) {
      const len = readVarint(buf, at);
      at = len.next;
      if (at + len.value > buf.length) throw new Error('truncated protobuf field');
      fields.set(field, buf.subarray(at, at + len.value).toString('utf8'));
      at += len.value;
    } else {
      throw new Error(`unsupported protobuf wire type ${wire}`);
    }
    if (at > buf.length) throw new Error('truncated protobuf field');
  }
  return fields;
}
