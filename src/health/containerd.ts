/**
 * containerd check: its socket accepts a connection, and containerd answers its
 * Version call (containerd/api services/version/v1/version.proto:
 * `rpc Version(google.protobuf.Empty) returns (VersionResponse)`,
 * `VersionResponse { string version = 1; string revision = 2; }`). A socket file left
 * behind by a dead containerd refuses the connection; a hung one times out; both fail.
 */
import {
  connect as connectHttp2,
  type ClientHttp2Session,
  type IncomingHttpHeaders,
} from 'node:http2';
import { connect as connectNet } from 'node:net';
import { OperationError, errnoCode } from '../errors.js';
import { decodeGrpcMessages, decodeStringFields, encodeGrpcMessage } from './grpc.js';
import { fail, pass, type Outcome } from './types.js';

export const CONTAINERD_VERSION_PATH = '/containerd.services.version.v1.Version/Version';
export const DEFAULT_CONTAINERD_SOCKET = '/run/containerd/containerd.sock';

const MAX_RESPONSE_BYTES = 64 * 1024;

export interface ContainerdVersion {
  version: string;
  revision: string;
}

/** grpc-message is percent-encoded (PROTOCOL-HTTP2.md); show it raw if it is not valid. */
function percentDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** Call containerd's Version RPC over the Unix socket at `socketPath`. */
export function containerdVersion(
  socketPath: string,
  timeoutMs: number,
): Promise<ContainerdVersion> {
  return new Promise<ContainerdVersion>((resolve, reject) => {
    let settled = false;
    let session: ClientHttp2Session | undefined;
    const socket = connectNet(socketPath);
    const finish = (err: OperationError | undefined, value?: ContainerdVersion): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      session?.destroy();
      socket.destroy();
      if (err) reject(err);
      else resolve(value!);
    };
    const protocol = (why: string, cause?: unknown): void =>
      finish(
        new OperationError('CONTAINERD_PROTOCOL', `containerd at ${socketPath}: ${why}`, {
          ...(cause === undefined ? {} : { cause }),
        }),
      );
    const timer = setTimeout(
      () =>
        finish(
          new OperationError(
            'CONTAINERD_TIMEOUT',
            `containerd at ${socketPath} did not answer within ${timeoutMs} ms`,
          ),
        ),
      timeoutMs,
    );
    socket.once('error', (err) => {
      if (session) return; // after connect, the HTTP/2 session reports it
      finish(
        new OperationError(
          'CONTAINERD_UNREACHABLE',
          `cannot connect to containerd at ${socketPath}: ${errnoCode(err) ?? String(err)}`,
          { cause: err },
        ),
      );
    });
    socket.once('connect', () => {
      // h2c with prior knowledge over the Unix socket, as gRPC clients do.
      session = connectHttp2('http://localhost', { createConnection: () => socket });
      session.on('error', (err) => protocol(`HTTP/2 session failed: ${String(err)}`, err));
      const req = session.request({
        ':method': 'POST',
        ':path': CONTAINERD_VERSION_PATH,
        'content-type': 'application/grpc',
        te: 'trailers',
        'user-agent': 'kubesolo-update',
      });
      let httpStatus: number | undefined;
      let grpcStatus: string | undefined;
      let grpcMessage = '';
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('response', (headers) => {
        httpStatus = Number(headers[':status']);
        const type = String(headers['content-type'] ?? '');
        if (!type.startsWith('application/grpc')) {
          protocol(`not a gRPC response (content-type '${type}')`);
        }
        // Trailers-Only response: the status comes with the headers.
        if (headers['grpc-status'] !== undefined) {
          grpcStatus = String(headers['grpc-status']);
          grpcMessage = String(headers['grpc-message'] ?? '');
        }
      });
      req.on('trailers', (trailers: IncomingHttpHeaders) => {
        grpcStatus = String(trailers['grpc-status'] ?? '');
        grpcMessage = String(trailers['grpc-message'] ?? '');
      });
      req.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_RESPONSE_BYTES) protocol('response too large');
        else chunks.push(chunk);
      });
      req.on('error', (err) => protocol(`stream failed: ${String(err)}`, err));
      req.on('end', () => {
        if (httpStatus !== 200) return protocol(`HTTP status ${String(httpStatus)}`);
        if (grpcStatus === undefined) return protocol('no grpc-status trailer');
        if (grpcStatus !== '0') {
          return finish(
            new OperationError(
              'CONTAINERD_GRPC_ERROR',
              `containerd Version call failed: grpc-status ${grpcStatus}${grpcMessage ? ` (${percentDecode(grpcMessage)})` : ''}`,
            ),
          );
        }
        try {
          const messages = decodeGrpcMessages(Buffer.concat(chunks));
          if (messages.length !== 1) return protocol(`expected 1 message, got ${messages.length}`);
          const fields = decodeStringFields(messages[0]!);
          finish(undefined, { version: fields.get(1) ?? '', revision: fields.get(2) ?? '' });
        } catch (err) {
          protocol(`malformed response: ${String(err)}`, err);
        }
      });
      req.on('close', () => protocol('stream closed before the response completed'));
      // google.protobuf.Empty encodes to zero bytes.
      req.end(encodeGrpcMessage(new Uint8Array(0)));
    });
  });
}

export async function checkContainerd(socketPath: string, timeoutMs: number): Promise<Outcome> {
  try {
    const v = await containerdVersion(socketPath, timeoutMs);
    return pass(`containerd ${v.version || '(no version)'} answers on ${socketPath}`);
  } catch (err) {
    if (err instanceof OperationError) return fail(err.code, err.message);
    throw err;
  }
}
