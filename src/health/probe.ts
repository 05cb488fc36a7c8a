/**
 * probe_url: GET `healthcheck_url` must answer 200 within the deadline. Redirects are
 * followed (at most 5, http/https only), as Go's http.Get in the KubeSolo OS agent
 * does; the final answer must be 200 exactly.
 *
 * undici is imported when a probe runs, not when this module loads: the health module
 * sits on every command's import graph, and evaluating undici (with node:http2 and
 * friends) at start-up made every command pay for it.
 */
import { errnoCode } from '../errors.js';
import { fail, pass, type Outcome } from './types.js';
import { userAgent } from '../version.js';

const MAX_REDIRECTS = 5;

export async function checkProbeUrl(url: string, timeoutMs: number): Promise<Outcome> {
  let current: URL;
  try {
    current = new URL(url);
  } catch {
    return fail('PROBE_URL_INVALID', `healthcheck_url '${url}' is not a URL`);
  }
  // Loaded before the deadline starts: loading is not the probed service's time.
  const { request } = await import('undici');
  const signal = AbortSignal.timeout(timeoutMs);
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    if (current.protocol !== 'http:' && current.protocol !== 'https:') {
      return fail('PROBE_URL_INVALID', `${current.href}: only http and https are probed`);
    }
    let status: number;
    let location: string | undefined;
    try {
      const res = await request(current, {
        method: 'GET',
        signal,
        headers: { 'user-agent': userAgent() },
      });
      status = res.statusCode;
      const loc = res.headers.location;
      location = Array.isArray(loc) ? loc[0] : loc;
      // The body is not needed: drop it so the connection is released.
      await res.body.dump({ limit: 64 * 1024 });
    } catch (err) {
      if (signal.aborted) {
        return fail('PROBE_TIMEOUT', `${current.href}: no answer within ${timeoutMs} ms`);
      }
      const code = errnoCode(err) ?? (err instanceof Error ? err.name : 'error');
      return fail('PROBE_UNREACHABLE', `${current.href}: ${code}: ${String(err)}`);
    }
    if ([301, 302, 303, 307, 308].includes(status) && location !== undefined) {
      current = new URL(location, current);
      continue;
    }
    if (status === 200) return pass(`${url}: HTTP 200`);
    return fail('PROBE_HTTP_STATUS', `${current.href}: HTTP ${status} (want 200)`);
  }
  return fail('PROBE_TOO_MANY_REDIRECTS', `${url}: more than ${MAX_REDIRECTS} redirects`);
}
