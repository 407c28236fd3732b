/**
 * Browser links to artifacts: `<base>/v1/artifacts/<sha256>?sig=<hmac>`, served read-only by the
 * HTTP service (workers/httpIngest.ts). A browser cannot send a bearer token when a person clicks a
 * link in the Temporal UI, so a link carries a signature of that one digest made with the service's
 * token: it opens that artifact and nothing else, and the token itself never reaches a memo.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { HttpIngestConfig } from '../../config';

/** The signature of one artifact's link (HMAC-SHA256 of the digest under the service token, 128 bits). */
export function artifactSignature(token: string, sha256: string): string {
  return createHmac('sha256', token).update(`sluice-artifact:${sha256}`).digest('hex').slice(0, 32);
}

export function artifactSignatureMatches(token: string, sha256: string, given: string): boolean {
  const expected = Buffer.from(artifactSignature(token, sha256));
  const actual = Buffer.from(given);
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

/** Where browsers reach the HTTP service: SLUICE_PUBLIC_URL, or the listener's address. */
export function publicBaseUrl(http: Pick<HttpIngestConfig, 'host' | 'port' | 'publicUrl'>): string {
  if (http.publicUrl) return http.publicUrl;
  const host = http.host === '0.0.0.0' || http.host === '::' ? 'localhost' : http.host.includes(':') ? `[${http.host}]` : http.host;
  return `http://${host}:${http.port}`;
}

/** The browser link of an artifact (signed when the service has a token, as it must to start). */
export function artifactUrl(http: Pick<HttpIngestConfig, 'host' | 'port' | 'publicUrl' | 'token'>, sha256: string): string {
  const base = `${publicBaseUrl(http)}/v1/artifacts/${sha256}`;
  return http.token ? `${base}?sig=${artifactSignature(http.token, sha256)}` : base;
}

/** The browser links of several artifacts, under the same names as their digests. */
export function artifactLinks(
  http: Pick<HttpIngestConfig, 'host' | 'port' | 'publicUrl' | 'token'>,
  sha256s: Record<string, string>,
): Record<string, string> {
  return Object.fromEntries(Object.entries(sha256s).map(([name, sha]) => [name, artifactUrl(http, sha)]));
}
