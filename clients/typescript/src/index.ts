// The comfyloom API client: the generated SDK (src/generated, from openapi.json) and two things it cannot
// generate: setting up the key (and the app user a service key acts for), and checking a webhook's signature.
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

import { client } from './generated/client.gen.js';

export * from './generated/index.js';
export { client };

export interface Connection {
  /** The API's base URL, e.g. http://127.0.0.1:8000 */
  baseUrl: string;
  /** An API key: a user's, or a service key's (then name the user in `onBehalfOf`). */
  apiKey: string;
  /** With a service key: your app's id for the user every call acts for (X-On-Behalf-Of). */
  onBehalfOf?: string;
}

/** Points every generated call at this API with this key. */
export function connect({ baseUrl, apiKey, onBehalfOf }: Connection): void {
  const headers: Record<string, string> = { Authorization: `Bearer ${apiKey}` };
  if (onBehalfOf) headers['X-On-Behalf-Of'] = onBehalfOf;
  client.setConfig({ baseUrl, headers });
}

/** What a webhook carries: the job's final status. */
export interface JobEnded {
  type: string;
  timestamp: string;
  data: { jobId: string; kind: string; status: string; resultUrl: string | null; error: string | null } & Record<
    string,
    unknown
  >;
}

/**
 * Verifies a webhook as the Standard Webhooks spec says (HMAC-SHA256 of `id.timestamp.body` with the key's
 * `whsec_…` secret) and returns its event; throws if the signature is wrong or the timestamp over 5 minutes
 * off. Give it the headers as Node or fetch has them, and the body as received (a string or a Buffer), before
 * any JSON parsing. Drop an event whose `webhook-id` you have seen: a retried delivery repeats it.
 */
export function verifyWebhook(
  secret: string,
  headers: IncomingHttpHeaders | Headers | Record<string, string | string[] | undefined>,
  body: string | Buffer,
): JobEnded {
  const header = (name: string): string | undefined => {
    const value = headers instanceof Headers ? headers.get(name) ?? undefined : headers[name];
    return Array.isArray(value) ? value.join(' ') : value;
  };
  const id = header('webhook-id');
  const timestamp = header('webhook-timestamp');
  const signatures = header('webhook-signature');
  if (!id || !timestamp || !signatures) throw new Error('missing webhook-id, webhook-timestamp or webhook-signature');
  if (Math.abs(Date.now() / 1000 - Number(timestamp)) > 300) throw new Error('webhook timestamp too old or too new');
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  const expected = createHmac('sha256', key).update(`${id}.${timestamp}.`).update(body).digest();
  const matches = signatures.split(' ').some((entry) => {
    const [version, signature] = entry.split(',');
    const given = Buffer.from(signature ?? '', 'base64');
    return version === 'v1' && given.length === expected.length && timingSafeEqual(given, expected);
  });
  if (!matches) throw new Error('no matching webhook signature');
  return JSON.parse(body.toString()) as JobEnded;
}
