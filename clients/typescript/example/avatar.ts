// A Node.js backend asks for an avatar of its user's character and learns the result from a webhook.
// Run (after `npx tsc -p .`): node dist/example/avatar.js  with COMFYLOOM_API_URL and COMFYLOOM_API_KEY set.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

import {
  connect,
  generateAvatar,
  type JobEnded,
  jobStatus,
  rotateSecret,
  upsertCharacter,
  verifyWebhook,
} from '../src/index.js';

export async function avatarWithWebhook(baseUrl: string, apiKey: string, onBehalfOf?: string) {
  connect({ baseUrl, apiKey, onBehalfOf });
  const { data: signing } = await rotateSecret({ throwOnError: true });
  // Your backend's webhook endpoint (here on this machine, which the dev stack allows).
  let received: (event: JobEnded) => void = () => {};
  const ended = new Promise<JobEnded>((resolve) => (received = resolve));
  const server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk) => (body += chunk));
    request.on('end', () => {
      try {
        received(verifyWebhook(signing.webhookSecret, request.headers, body));
        response.writeHead(204).end();
      } catch {
        response.writeHead(401).end();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;

  // Your app's own id for the character: created the first time, updated after, no id map to keep.
  const { data: character } = await upsertCharacter({
    path: { externalId: 'char-42' },
    body: {
      name: 'Rem Dragneel',
      description: 'Uma jovem oni gentil de cabelo azul curto e olhos azuis.',
      visualFeatures: { gender: 'female', hair: 'blue hair', eyes: 'blue eyes' },
    },
    throwOnError: true,
  });
  const { data: job } = await generateAvatar({
    body: { characterId: character.id, webhookUrl: `http://127.0.0.1:${port}/hooks/comfyloom` },
    throwOnError: true,
  });
  const event = await ended;
  server.close();
  const { data: status } = await jobStatus({ path: { job_id: job.jobId }, throwOnError: true });
  return { character, job, event, status };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { event, status } = await avatarWithWebhook(process.env.COMFYLOOM_API_URL!, process.env.COMFYLOOM_API_KEY!);
  console.log(event.type, status.resultUrl);
}
