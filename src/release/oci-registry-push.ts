/**
 * The push half of the distribution API (distribution-spec v1.1 "Push"): blob uploads
 * (monolithic or chunked) and manifests, over the agent's registry client
 * (src/transport/oci/client.ts: authentication, the one HTTP stack). Publisher code:
 * only `kubesolo-release push` uses it, so the agent's bundle does not carry it.
 */
import { drainBody } from '../transport/http.js';
import { sha256Digest, type Body, type OciClient } from '../transport/oci/client.js';

/** POST /v2/<name>/blobs/uploads/ → the upload session URL (spec "Pushing blobs"). */
async function startUpload(client: OciClient, signal?: AbortSignal): Promise<string> {
  const url = `${client.ref.baseUrl}/v2/${client.ref.repository}/blobs/uploads/`;
  const res = await client.send({
    method: 'POST',
    url,
    headers: { 'content-length': '0' },
    signal,
  });
  if (res.statusCode !== 202) await client.fail(res, 'starting a blob upload', url);
  await drainBody(res.body);
  return client.location(res, url);
}

function withDigest(location: string, digest: string): string {
  const u = new URL(location);
  u.searchParams.set('digest', digest);
  return u.href;
}

/** Monolithic upload: POST, then one PUT with the whole blob (spec "POST then PUT"). */
export async function uploadMonolithic(
  client: OciClient,
  digest: string,
  size: number,
  body: () => Body,
  signal?: AbortSignal,
): Promise<void> {
  const session = await startUpload(client, signal);
  const url = withDigest(session, digest);
  const res = await client.send({
    method: 'PUT',
    url,
    headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
    body,
    signal,
  });
  if (res.statusCode !== 201) await client.fail(res, `uploading blob ${digest}`, url);
  await drainBody(res.body);
}

/**
 * Chunked upload (spec "Pushing a blob in chunks"): PATCH each chunk with its
 * Content-Range, following the Location the registry returns, then PUT ?digest=.
 * Returns the number of PATCH requests.
 */
export async function uploadChunked(
  client: OciClient,
  digest: string,
  size: number,
  chunkSize: number,
  chunk: (start: number, end: number) => Body,
  signal?: AbortSignal,
): Promise<number> {
  let location = await startUpload(client, signal);
  let chunks = 0;
  for (let start = 0; start < size; start += chunkSize) {
    const end = Math.min(size, start + chunkSize);
    const res = await client.send({
      method: 'PATCH',
      url: location,
      headers: {
        'content-type': 'application/octet-stream',
        'content-length': String(end - start),
        // Inclusive byte range, without a unit (distribution-spec "Pushing a blob in chunks").
        'content-range': `${start}-${end - 1}`,
      },
      body: () => chunk(start, end),
      signal,
    });
    if (res.statusCode !== 202) {
      await client.fail(res, `uploading a chunk of ${digest}`, location);
    }
    await drainBody(res.body);
    location = client.location(res, location);
    chunks++;
  }
  const url = withDigest(location, digest);
  const res = await client.send({
    method: 'PUT',
    url,
    headers: { 'content-length': '0' },
    signal,
  });
  if (res.statusCode !== 201) await client.fail(res, `closing the upload of ${digest}`, url);
  await drainBody(res.body);
  return chunks;
}

/** PUT a manifest or index under a tag or digest; returns its digest. */
export async function putManifest(
  client: OciClient,
  reference: string,
  mediaType: string,
  bytes: Buffer,
  signal?: AbortSignal,
): Promise<string> {
  const url = client.apiUrl('manifests', reference);
  const res = await client.send({
    method: 'PUT',
    url,
    headers: { 'content-type': mediaType },
    body: () => bytes,
    idempotent: true,
    signal,
  });
  if (res.statusCode !== 201) await client.fail(res, `pushing manifest ${reference}`, url);
  await drainBody(res.body);
  return sha256Digest(bytes);
}
