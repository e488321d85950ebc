// A chat app asks, after each turn, whether the moment deserves a scene, and follows the chat's stream of events
// until the scene drawn is ready; a dropped stream resumes from the last event it saw.
// Run (after `npx tsc -p .`): node dist/example/chat.js  with COMFYLOOM_API_URL and COMFYLOOM_API_KEY set.
import {
  connect,
  followEvents,
  generateAutoScene,
  type AutoSceneNotDrawn,
  type AutoSceneStarted,
  type JobEventOut,
  upsertCharacter,
} from '../src/index.js';

// The end of the conversation, oldest first: your chat's own message ids let the server count new messages.
const TURNS = [
  { id: 'm1', speaker: 'Ana', text: 'Não aguento mais esse café, vamos sair daqui?' },
  { id: 'm2', speaker: 'Rem Dragneel', text: 'Vamos! Rem segura sua mão e vocês correm pela chuva.' },
  { id: 'm3', speaker: 'Ana', text: 'Paramos na velha estação de trem abandonada.' },
  { id: 'm4', speaker: 'Rem Dragneel', text: 'Rem acende uma lanterna e ilumina os trilhos enferrujados.' },
];

export async function sceneDuringChat(baseUrl: string, apiKey: string, onBehalfOf?: string) {
  connect({ baseUrl, apiKey, onBehalfOf });
  const { data: character } = await upsertCharacter({
    path: { externalId: 'rem' },
    body: {
      name: 'Rem Dragneel',
      description: 'Uma jovem oni gentil de cabelo azul curto e olhos azuis.',
      visualFeatures: { gender: 'female', hair: 'blue hair', eyes: 'blue eyes' },
    },
    throwOnError: true,
  });
  const chatId = `chat-${Date.now()}`;
  const { data } = await generateAutoScene({
    body: { chatId, characterIds: [character.id], messages: TURNS },
    throwOnError: true,
  });
  const answer = data as AutoSceneStarted | AutoSceneNotDrawn;
  if (!answer.drawn) return { answer, events: [] }; // answer.code and answer.reason say why; nothing was charged

  // Every job of this chat as it moves. Here the stream is dropped after the first event and opened again from
  // it, as a phone that lost its connection would: the events between are replayed, none twice.
  const events: JobEventOut[] = [];
  const first = new AbortController();
  for await (const event of followEvents({ chatId, signal: first.signal })) {
    events.push(event);
    first.abort();
    break;
  }
  for await (const event of followEvents({ chatId, lastEventId: events.at(-1)?.id })) {
    events.push(event);
    if (event.jobId === answer.jobId && ['ready', 'failed', 'cancelled'].includes(event.event)) break;
  }
  return { answer, events };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { answer, events } = await sceneDuringChat(process.env.COMFYLOOM_API_URL!, process.env.COMFYLOOM_API_KEY!);
  console.log(answer.drawn ? answer.reason : `not drawn: ${answer.reason}`);
  for (const event of events) console.log(event.id, event.event, event.status?.stage, event.status?.resultUrl ?? '');
}
