/**
 * Limits for the two HTTP servers this project runs (`kubesolo-release serve`,
 * `kubesolo-update metrics --listen`): a client that sends its headers slowly, or never
 * finishes its request, is cut off instead of holding a connection open forever
 * (slowloris). Responses are not limited: a large image may take long to download.
 */
import type { Server } from 'node:http';

export const HEADERS_TIMEOUT_MS = 10_000;
export const REQUEST_TIMEOUT_MS = 30_000;
/** Idle keep-alive connections are closed after this. */
export const KEEP_ALIVE_TIMEOUT_MS = 5_000;

export function limitRequests(server: Server): Server {
  server.headersTimeout = HEADERS_TIMEOUT_MS;
  server.requestTimeout = REQUEST_TIMEOUT_MS;
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  return server;
}
