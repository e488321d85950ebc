// The comfyloom API client: the generated SDK (src/generated, from openapi.json) and three things it cannot
// generate: setting up the key (and the app user a service key acts for), following a user's or a chat's stream of
// job events, and checking a webhook's signature.
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

import { client } from './generated/client.gen.js';
import type { JobEventOut } from './generated/index.js';

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

let connected: { baseUrl: string; headers: Record<string, string> } | undefined;

/** Points every generated call (and `followEvents`) at this API with this key. */
export function connect({ baseUrl, apiKey, onBehalfOf }: Connection): void {
  const headers: Record<string, string> = { Authorization: `Bearer ${apiKey}` };
  if (onBehalfOf) headers['X-On-Behalf-Of'] = onBehalfOf;
  client.setConfig({ baseUrl, headers });
  connected = { baseUrl, headers };
}

export interface FollowOptions {
  /** Only this chat's jobs (a scene's `chatId`); every job of the user without it. */
  chatId?: string;
  /** Resume after this event (the `id` of the last one you handled): what came since is replayed first. */
  lastEventId?: string;
  /** Stops following. */
  signal?: AbortSignal;
  /** Before connecting again after the stream dropped, in ms (default 1000). */
  retryMs?: number;
}

/** Answers the stream gives for good: no point connecting again (a bad key, another user's or unknown chat). */
const REFUSED = new Set([400, 401, 403, 404, 422]);

/**
 * Every event of the user's jobs, or of one chat's (`started`, `stage`, `ready`, `failed`, `cancelled`, or `reset`
 * when more was missed than the server replays), as server-sent events over fetch. A dropped connection is
 * opened again with the last event's id, so nothing is missed and nothing repeated; end it with `signal` or by
 * leaving the loop. Throws when the API refuses the stream (e.g. 404 for a chat that is not the user's).
 */
export async function* followEvents(options: FollowOptions = {}): AsyncGenerator<JobEventOut> {
  if (!connected) throw new Error('call connect() first');
  const url = new URL('/api/v1/image-generation/events', connected.baseUrl);
  if (options.chatId) url.searchParams.set('chatId', options.chatId);
  let lastEventId = options.lastEventId;
  for (;;) {
    const headers = { ...connected.headers, Accept: 'text/event-stream' };
    const resumed = lastEventId ? { ...headers, 'Last-Event-ID': lastEventId } : headers;
    try {
      const response = await fetch(url, { headers: resumed, signal: options.signal });
      if (REFUSED.has(response.status)) throw new StreamRefused(response.status, await response.text());
      if (response.ok && response.body) {
        for await (const frame of frames(response.body)) {
          if (frame.id) lastEventId = frame.id;
          if (frame.data) yield JSON.parse(frame.data) as JobEventOut;
        }
      }
    } catch (error) {
      if (error instanceof StreamRefused || options.signal?.aborted) throw error;
    }
    await new Promise((resolve) => setTimeout(resolve, options.retryMs ?? 1000));
  }
}

export class StreamRefused extends Error {
  constructor(
    readonly status: number,
    body: string,
  ) {
    super(`the event stream was refused: ${status} ${body}`);
  }
}

/** Server-sent event frames (`id`, `data`; comments and `event` lines skipped) from a response body. Leaving the
 * loop closes the connection: an open one would keep Node running. */
async function* frames(body: ReadableStream<Uint8Array>): AsyncGenerator<{ id?: string; data?: string }> {
  const decoder = new TextDecoder();
  const reader = body.getReader();
  let buffered = '';
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      buffered += decoder.decode(value, { stream: true }).replace(/\r\n?/g, '\n');
      let end: number;
      while ((end = buffered.indexOf('\n\n')) >= 0) {
        const block = buffered.slice(0, end);
        buffered = buffered.slice(end + 2);
        const frame: { id?: string; data?: string } = {};
        for (const line of block.split('\n')) {
          const [field, ...rest] = line.split(':');
          const value = rest.join(':').replace(/^ /, '');
          if (field === 'id') frame.id = value;
          else if (field === 'data') frame.data = frame.data === undefined ? value : `${frame.data}\n${value}`;
        }
        yield frame;
      }
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
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
