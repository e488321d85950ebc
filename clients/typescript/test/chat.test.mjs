// node --test: the chat example against a running API whose CPU worker judges moments with a local Gemini endpoint
// (tests/clients/test_typescript.py starts them and sets the env).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { sceneDuringChat } from '../dist/example/chat.js';

const baseUrl = process.env.COMFYLOOM_API_URL;
const apiKey = process.env.COMFYLOOM_API_KEY;

test('asks for a scene after a turn and follows the chat until it is ready', { skip: !baseUrl && 'no API' }, async () => {
  const { answer, events } = await sceneDuringChat(baseUrl, apiKey, process.env.COMFYLOOM_ON_BEHALF_OF);
  assert.equal(answer.drawn, true);
  const mine = events.filter((event) => event.jobId === answer.jobId);
  assert.ok(['started', 'stage'].includes(mine[0].event)); // a stream opened without an id announces the job as it is
  assert.equal(mine.at(-1).event, 'ready');
  assert.ok(mine.at(-1).status.resultUrl.endsWith('.webp'));
  const ids = events.map((event) => Number(event.id));
  assert.deepEqual(ids, [...ids].sort((a, b) => a - b));
  assert.equal(new Set(ids).size, ids.length); // resumed without repeating an event
  console.log(`scene ${answer.jobId}: ${mine.map((event) => event.status?.stage ?? event.event).join(', ')}`);
});
