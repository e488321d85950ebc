// node --test: the example against a running API (tests/clients/test_typescript.py starts one and sets the env).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { avatarWithWebhook } from '../dist/example/avatar.js';

const baseUrl = process.env.COMFYLOOM_API_URL;
const apiKey = process.env.COMFYLOOM_API_KEY;

test('creates a character, starts an avatar and receives its signed webhook', { skip: !baseUrl && 'no API' }, async () => {
  const { character, job, event, status } = await avatarWithWebhook(baseUrl, apiKey, process.env.COMFYLOOM_ON_BEHALF_OF);
  assert.equal(character.name, 'Rem Dragneel');
  assert.equal(event.type, 'job.ready');
  assert.equal(event.data.jobId, job.jobId);
  assert.equal(status.status, 'ready');
  assert.equal(event.data.resultUrl, status.resultUrl);
  console.log(`avatar ${job.jobId}: ${event.type}, ${status.resultUrl}`);
});
