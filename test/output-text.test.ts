import assert from 'node:assert/strict';
import { test } from 'node:test';
import { outputTextOf } from '../src/output-text.js';

test('output_text is the generated text of every provider’s body', () => {
  const cases: [string, unknown, string | null][] = [
    ['chat', { choices: [{ message: { role: 'assistant', content: 'Hi' } }] }, 'Hi'],
    ['completions', { choices: [{ text: 'Once' }] }, 'Once'],
    [
      'responses',
      {
        output: [
          { type: 'reasoning', summary: [] },
          { type: 'message', content: [{ type: 'output_text', text: 'A' }] },
          { type: 'message', content: [{ type: 'output_text', text: 'B' }] },
        ],
      },
      'AB',
    ],
    [
      'anthropic',
      {
        type: 'message',
        content: [
          { type: 'text', text: 'Hello ' },
          { type: 'tool_use', id: 't', name: 'f', input: {} },
          { type: 'text', text: 'there' },
        ],
      },
      'Hello there',
    ],
    [
      'gemini',
      {
        candidates: [
          {
            content: {
              role: 'model',
              parts: [{ text: 'thinking…', thought: true }, { text: 'Bonjour' }],
            },
          },
        ],
      },
      'Bonjour',
    ],
    ['embeddings', { data: [{ embedding: [0.1] }] }, null],
    ['chat with only tool calls', { choices: [{ message: { content: null } }] }, null],
    ['anthropic with only a tool call', { content: [{ type: 'tool_use' }] }, null],
    ['no body', null, null],
  ];
  for (const [what, body, expected] of cases) assert.equal(outputTextOf(body), expected, what);
});
