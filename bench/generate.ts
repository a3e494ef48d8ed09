import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { finished } from 'node:stream/promises';
import { seededRandom } from '../src/random.js';

const SYSTEM_PROMPT =
  'You are a careful assistant that reads customer reviews of household products and ' +
  'answers with a JSON object {"sentiment": "positive" | "neutral" | "negative", "topics": ' +
  '[...]}. Keep topics to at most three short nouns. Never add prose around the JSON.';

const WORDS = (
  'the blender arrived quickly but the lid cracked after two weeks of daily smoothies and ' +
  'support answered within a day with a replacement that fits better than the original one ' +
  'although the motor is louder than advertised and the cord is too short for our kitchen ' +
  'overall decent value for the price would probably buy again if it went on sale'
).split(' ');

export function userMessage(random: () => number, i: number): string {
  const target = 300 + Math.floor(random() * 501);
  let text = `Review #${i + 1}:`;
  while (text.length < target) text += ` ${WORDS[Math.floor(random() * WORDS.length)]}`;
  return text.slice(0, target);
}

/** One chat-completion request line: a system prompt, a 300–800 character review, max_tokens. */
export function requestLine(random: () => number, i: number, prefix = 'req'): string {
  return JSON.stringify({
    custom_id: `${prefix}-${i + 1}`,
    method: 'POST',
    url: '/v1/chat/completions',
    body: {
      model: 'gpt-4o-mini',
      messages: [
        { role: 'system', content: SYSTEM_PROMPT },
        { role: 'user', content: userMessage(random, i) },
      ],
      max_tokens: 64,
      temperature: 0,
    },
  });
}

/** Writes `n` request lines to `path`, streamed with back-pressure; returns the bytes written. */
export async function generateRequests(
  path: string,
  n: number,
  { seed = 42, prefix = 'req' }: { seed?: number; prefix?: string } = {},
): Promise<number> {
  const random = seededRandom(seed);
  const out = createWriteStream(path);
  let bytes = 0;
  let chunk = '';
  for (let i = 0; i < n; i++) {
    chunk += `${requestLine(random, i, prefix)}\n`;
    if (chunk.length >= 1 << 20 || i === n - 1) {
      bytes += Buffer.byteLength(chunk);
      if (!out.write(chunk)) await once(out, 'drain');
      chunk = '';
    }
  }
  out.end();
  await finished(out);
  return bytes;
}
