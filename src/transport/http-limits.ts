/**
 * Limits for the two HTTP servers this project runs (`kubesolo-release serve`,
 * `kubesolo-update metrics --listen`): a client that sends its headers slowly, or never
 * finishes its request, is cut off instead of holding a connection open forever
 * (slowloris). Responses are not limited: a large image may take long to download.
 * Pass these as createServer's options (connectionsCheckingInterval can only be set
 * there: how often Node looks for connections past their deadline).
 */
import type { ServerOptions } from 'node:http';

export const SERVER_LIMITS = {
  headersTimeout: 5_000,
  requestTimeout: 30_000,
  /** Idle keep-alive connections are closed after this. */
  keepAliveTimeout: 5_000,
  connectionsCheckingInterval: 1_000,
} as const satisfies ServerOptions;
