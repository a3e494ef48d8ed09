import { expectedUsage } from '../../src/emulator/index.js';
import type { Usage } from '../../workflows/types.js';

export interface ChatLineOptions {
  model?: string;
  prefix?: string;
}

/** Chat-completion request lines with ids r-1…r-n. */
export function chatLines(
  n: number,
  { model = 'gpt-4o-mini', prefix = 'r' }: ChatLineOptions = {},
) {
  return Array.from({ length: n }, (_, i) =>
    JSON.stringify({
      custom_id: `${prefix}-${i + 1}`,
      method: 'POST',
      url: '/v1/chat/completions',
      body: {
        model,
        messages: [{ role: 'user', content: `Classify the sentiment of review number ${i + 1}.` }],
        max_tokens: 16,
      },
    }),
  );
}

export const idsOf = (lines: string[]) => lines.map((l) => (JSON.parse(l) as Custom).custom_id);
interface Custom {
  custom_id: string;
}

/** What the emulator will report as usage for these request lines, summed. */
export function expectedUsageOf(lines: string[]): Usage {
  return lines
    .map((l) => JSON.parse(l))
    .map((l) => expectedUsage(l.url, l.body, l.custom_id))
    .reduce((a, u) => ({
      input_tokens: a.input_tokens + u.input_tokens,
      output_tokens: a.output_tokens + u.output_tokens,
      total_tokens: a.total_tokens + u.total_tokens,
    }));
}
