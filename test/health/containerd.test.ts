import { strict as assert } from 'node:assert';
import {
  createServer as createH2Server,
  type Http2Server,
  type ServerHttp2Stream,
} from 'node:http2';
import { createServer as createNetServer, type Server } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  CONTAINERD_VERSION_PATH,
  checkContainerd,
  containerdVersion,
} from '../../src/health/containerd.js';
import {
  decodeGrpcMessages,
  decodeStringFields,
  encodeGrpcMessage,
} from '../../src/health/grpc.js';
import { assertCode } from '../helpers/code-assert.js';

const dir = mkdtempSync(join(tmpdir(), 'containerd-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const sock = () => join(dir, `c${++n}.sock`);

/** Protobuf encoding of VersionResponse{version=1, revision=2}, written out by hand. */
function versionResponse(version: string, revision: string): Buffer {
  const field = (num: number, s: string) => {
    const bytes = Buffer.from(s);
    assert.ok(bytes.length < 128); // one-byte varint length
    return Buffer.concat([Buffer.from([(num << 3) | 2, bytes.length]), bytes]);
  };
  return Buffer.concat([field(1, version), field(2, revision)]);
}

interface Seen {
  path?: string;
  contentType?: string;
  te?: string;
  body?: Buffer;
}

/** A real HTTP/2 (h2c) server on a Unix socket speaking gRPC framing, like containerd. */
async function grpcServer(
  path: string,
  answer: (stream: ServerHttp2Stream) => void,
): Promise<{ server: Http2Server; seen: Seen }> {
  const seen: Seen = {};
  const server = createH2Server();
  server.on('stream', (stream, headers) => {
    seen.path = String(headers[':path']);
    seen.contentType = String(headers['content-type']);
    seen.te = String(headers.te);
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      seen.body = Buffer.concat(chunks);
      answer(stream);
    });
  });
  await new Promise<void>((r) => server.listen(path, r));
  return { server, seen };
}

// Stop listening. An Http2Server's close callback waits for sessions it may still count
// after the client destroyed them, so it is not awaited; the socket path is unique per test.
const close = (s: Http2Server | Server): Promise<void> => {
  s.close();
  return Promise.resolve();
};

describe('containerd check', () => {
  it('passes when containerd answers Version over gRPC on its Unix socket', async () => {
    const path = sock();
    const { server, seen } = await grpcServer(path, (stream) => {
      stream.respond(
        { ':status': 200, 'content-type': 'application/grpc' },
        { waitForTrailers: true },
      );
      stream.on('wantTrailers', () =>
        stream.sendTrailers({ 'grpc-status': '0', 'grpc-message': '' }),
      );
      stream.end(
        encodeGrpcMessage(versionResponse('v1.7.27', '05044ec0a9a75232cad458027ca83437aae3f4da')),
      );
    });
    try {
      assert.deepEqual(await containerdVersion(path, 2000), {
        version: 'v1.7.27',
        revision: '05044ec0a9a75232cad458027ca83437aae3f4da',
      });
      const outcome = await checkContainerd(path, 2000);
      assert.equal(outcome.verdict, 'pass');
      assertCode(outcome.reason, 'OK');
      assert.match(outcome.message, /v1\.7\.27/);
    } finally {
      await close(server);
    }
    assert.equal(seen.path, CONTAINERD_VERSION_PATH);
    assert.equal(seen.contentType, 'application/grpc');
    assert.equal(seen.te, 'trailers');
    // google.protobuf.Empty in one uncompressed Length-Prefixed-Message.
    assert.deepEqual([...(seen.body ?? [])], [0, 0, 0, 0, 0]);
  });

  it('fails with CONTAINERD_UNREACHABLE when no socket exists', async () => {
    const outcome = await checkContainerd(join(dir, 'absent.sock'), 2000);
    assert.equal(outcome.verdict, 'fail');
    assertCode(outcome.reason, 'CONTAINERD_UNREACHABLE');
    assert.match(outcome.message, /ENOENT/);
  });

  it('fails with CONTAINERD_UNREACHABLE for a stale socket file nobody listens on', async () => {
    const path = sock();
    const srv = createNetServer();
    await new Promise<void>((r) => srv.listen(path, r));
    // Closing a listening Unix socket unlinks it in Node; recreate a dead socket file by
    // making a plain file: connect() then fails with ECONNREFUSED, as for a dead daemon.
    await close(srv);
    writeFileSync(path, '');
    const outcome = await checkContainerd(path, 2000);
    assertCode(outcome.reason, 'CONTAINERD_UNREACHABLE');
  });

  it('fails with CONTAINERD_GRPC_ERROR on a non-OK grpc-status (Trailers-Only)', async () => {
    const path = sock();
    const { server } = await grpcServer(path, (stream) => {
      stream.respond(
        {
          ':status': 200,
          'content-type': 'application/grpc',
          'grpc-status': '14',
          'grpc-message': 'shutting%20down',
        },
        { endStream: true },
      );
    });
    try {
      const outcome = await checkContainerd(path, 2000);
      assertCode(outcome.reason, 'CONTAINERD_GRPC_ERROR');
      assert.match(outcome.message, /grpc-status 14 \(shutting down\)/);
    } finally {
      await close(server);
    }
  });

  it('fails with CONTAINERD_PROTOCOL when the socket does not speak gRPC', async () => {
    const http = sock();
    const { server } = await grpcServer(http, (stream) => {
      stream.respond({ ':status': 404, 'content-type': 'text/plain' });
      stream.end('no such thing');
    });
    const raw = sock();
    const garbage = createNetServer((c) => c.end('HTTP/1.1 400 Bad Request\r\n\r\n'));
    await new Promise<void>((r) => garbage.listen(raw, r));
    try {
      assertCode((await checkContainerd(http, 2000)).reason, 'CONTAINERD_PROTOCOL');
      assertCode((await checkContainerd(raw, 2000)).reason, 'CONTAINERD_PROTOCOL');
    } finally {
      await close(server);
      await close(garbage);
    }
  });

  // The message names the deadline that fired; the test's timeout catches a hang.
  it(
    'fails with CONTAINERD_TIMEOUT when containerd accepts but never answers',
    { timeout: 30_000 },
    async () => {
      const path = sock();
      const { server } = await grpcServer(path, () => undefined);
      try {
        const t0 = performance.now();
        const outcome = await checkContainerd(path, 200);
        assertCode(outcome.reason, 'CONTAINERD_TIMEOUT');
        assert.match(outcome.message, /within 200 ms/);
        assert.ok(performance.now() - t0 >= 150);
      } finally {
        server.close();
      }
    },
  );
});

describe('gRPC framing and protobuf decoding', () => {
  it('round-trips messages and rejects truncated or compressed frames', () => {
    const two = Buffer.concat([
      encodeGrpcMessage(Buffer.from('ab')),
      encodeGrpcMessage(Buffer.from('')),
    ]);
    assert.deepEqual(
      decodeGrpcMessages(two).map((b) => b.toString()),
      ['ab', ''],
    );
    assert.throws(() => decodeGrpcMessages(Buffer.from([0, 0, 0])), /prefix/);
    assert.throws(() => decodeGrpcMessages(Buffer.from([0, 0, 0, 0, 9, 1])), /truncated/);
    assert.throws(() => decodeGrpcMessages(Buffer.from([1, 0, 0, 0, 0])), /compressed/);
  });

  it('skips varint, fixed64, fixed32 fields and multi-byte lengths', () => {
    const long = 'x'.repeat(200);
    const msg = Buffer.concat([
      Buffer.from([(3 << 3) | 0, 0x96, 0x01]), // field 3 varint 150
      Buffer.from([(4 << 3) | 1, 1, 2, 3, 4, 5, 6, 7, 8]), // fixed64
      Buffer.from([(5 << 3) | 5, 1, 2, 3, 4]), // fixed32
      Buffer.from([(1 << 3) | 2, 0xc8, 0x01]), // field 1, length 200
      Buffer.from(long),
    ]);
    assert.deepEqual([...decodeStringFields(msg)], [[1, long]]);
    assert.throws(() => decodeStringFields(Buffer.from([(1 << 3) | 2, 5, 0x61])), /truncated/);
    assert.throws(() => decodeStringFields(Buffer.from([(1 << 3) | 3])), /wire type 3/);
    assert.throws(() => decodeStringFields(Buffer.from([0x08, 0xff])), /varint/);
  });
});
