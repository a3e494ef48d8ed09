import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_MAX_TOKENS, translateToAnthropic } from '../src/providers/anthropic/translate.js';

const chat = (body: Record<string, unknown>, customId = 'r-1') => ({
  custom_id: customId,
  method: 'POST',
  url: '/v1/chat/completions',
  body: { model: 'claude-sonnet-4-0', ...body },
});

/** The params of a line that translates, failing the test when it does not. */
function paramsOf(body: Record<string, unknown>) {
  const translation = translateToAnthropic(chat(body));
  assert.ok(translation.ok, translation.ok ? '' : translation.message);
  return (translation.line as { params: Record<string, unknown> }).params;
}

function refusal(line: Record<string, unknown>): string {
  const translation = translateToAnthropic(line);
  assert.ok(!translation.ok, 'expected a refusal');
  return translation.message;
}

test('a plain chat request: system and developer to system, max_tokens, the model', () => {
  const translation = translateToAnthropic(
    chat({
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'developer', content: [{ type: 'text', text: 'Answer in French.' }] },
        { role: 'user', content: 'Hello' },
      ],
      max_completion_tokens: 300,
    }),
  );
  assert.deepEqual(translation, {
    ok: true,
    customId: 'r-1',
    model: 'claude-sonnet-4-0',
    line: {
      custom_id: 'r-1',
      params: {
        model: 'claude-sonnet-4-0',
        max_tokens: 300,
        system: 'Be brief.\n\nAnswer in French.',
        messages: [{ role: 'user', content: [{ type: 'text', text: 'Hello' }] }],
      },
    },
  });
});

test('max_tokens: max_completion_tokens first, then max_tokens, else the default', () => {
  const messages = [{ role: 'user', content: 'x' }];
  assert.equal(paramsOf({ messages, max_tokens: 50 }).max_tokens, 50);
  assert.equal(paramsOf({ messages, max_tokens: 50, max_completion_tokens: 70 }).max_tokens, 70);
  assert.equal(paramsOf({ messages }).max_tokens, DEFAULT_MAX_TOKENS);
  assert.equal(DEFAULT_MAX_TOKENS, 4096);
});

test('sampling: temperature within 0–1, top_p, stop as stop_sequences, user as metadata', () => {
  const messages = [{ role: 'user', content: 'x' }];
  const params = paramsOf({ messages, temperature: 0.3, top_p: 0.9, stop: 'END', user: 'u-7' });
  assert.equal(params.temperature, 0.3);
  assert.equal(params.top_p, 0.9);
  assert.deepEqual(params.stop_sequences, ['END']);
  assert.deepEqual(params.metadata, { user_id: 'u-7' });
  assert.deepEqual(paramsOf({ messages, stop: ['a', 'b'] }).stop_sequences, ['a', 'b']);
  assert.match(refusal(chat({ messages, temperature: 1.5 })), /^body\.temperature: .*0 to 1/);
});

test('images: data URLs as base64 sources, http URLs as url sources', () => {
  const params = paramsOf({
    messages: [
      {
        role: 'user',
        content: [
          { type: 'text', text: 'What is this?' },
          { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
          { type: 'image_url', image_url: { url: 'https://example.com/cat.jpg', detail: 'low' } },
        ],
      },
    ],
  });
  assert.deepEqual(params.messages, [
    {
      role: 'user',
      content: [
        { type: 'text', text: 'What is this?' },
        {
          type: 'image',
          source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' },
        },
        { type: 'image', source: { type: 'url', url: 'https://example.com/cat.jpg' } },
      ],
    },
  ]);
  const audio = { type: 'input_audio', input_audio: { data: '', format: 'wav' } };
  assert.equal(
    refusal(chat({ messages: [{ role: 'user', content: [audio] }] })),
    'body.messages[0].content[0].type "input_audio": not supported by Anthropic',
  );
  const ftp = { type: 'image_url', image_url: { url: 'ftp://x' } };
  assert.match(refusal(chat({ messages: [{ role: 'user', content: [ftp] }] })), /image_url\.url/);
});

test('tools, tool_choice, tool calls and their results', () => {
  const tool = {
    type: 'function',
    function: {
      name: 'weather',
      description: 'The weather in a city',
      parameters: { type: 'object', properties: { city: { type: 'string' } } },
    },
  };
  const params = paramsOf({
    tools: [tool, { type: 'function', function: { name: 'now' } }],
    tool_choice: 'required',
    messages: [
      { role: 'user', content: 'Weather in Oslo and Rome?' },
      {
        role: 'assistant',
        content: null,
        tool_calls: [
          {
            id: 'c1',
            type: 'function',
            function: { name: 'weather', arguments: '{"city":"Oslo"}' },
          },
          {
            id: 'c2',
            type: 'function',
            function: { name: 'weather', arguments: '{"city":"Rome"}' },
          },
        ],
      },
      { role: 'tool', tool_call_id: 'c1', content: 'rain' },
      { role: 'tool', tool_call_id: 'c2', content: [{ type: 'text', text: 'sun' }] },
      { role: 'user', content: 'Thanks' },
    ],
  });
  assert.deepEqual(params.tools, [
    {
      name: 'weather',
      description: 'The weather in a city',
      input_schema: { type: 'object', properties: { city: { type: 'string' } } },
    },
    { name: 'now', input_schema: { type: 'object', properties: {} } },
  ]);
  assert.deepEqual(params.tool_choice, { type: 'any' });
  assert.deepEqual(params.messages, [
    { role: 'user', content: [{ type: 'text', text: 'Weather in Oslo and Rome?' }] },
    {
      role: 'assistant',
      content: [
        { type: 'tool_use', id: 'c1', name: 'weather', input: { city: 'Oslo' } },
        { type: 'tool_use', id: 'c2', name: 'weather', input: { city: 'Rome' } },
      ],
    },
    {
      role: 'user',
      content: [
        { type: 'tool_result', tool_use_id: 'c1', content: 'rain' },
        { type: 'tool_result', tool_use_id: 'c2', content: 'sun' },
        { type: 'text', text: 'Thanks' },
      ],
    },
  ]);
  const messages = [{ role: 'user', content: 'x' }];
  assert.deepEqual(paramsOf({ messages, tool_choice: 'auto' }).tool_choice, { type: 'auto' });
  assert.deepEqual(paramsOf({ messages, tool_choice: 'none' }).tool_choice, { type: 'none' });
  assert.deepEqual(
    paramsOf({ messages, tool_choice: { type: 'function', function: { name: 'now' } } })
      .tool_choice,
    { type: 'tool', name: 'now' },
  );
  const badArgs = {
    role: 'assistant',
    tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: '{' } }],
  };
  assert.match(refusal(chat({ messages: [badArgs] })), /tool_calls\[0\]\.function\.arguments/);
  assert.match(
    refusal(chat({ messages, tools: [{ type: 'web_search' }] })),
    /^body\.tools\[0\]: tools other than functions: not supported by Anthropic$/,
  );
});

test('what Anthropic has no equivalent for is refused, naming the field', () => {
  const messages = [{ role: 'user', content: 'x' }];
  for (const [field, value] of [
    ['logprobs', true],
    ['presence_penalty', 0.5],
    ['frequency_penalty', 0.5],
    ['seed', 7],
    ['logit_bias', { 1: 2 }],
    ['audio', { voice: 'alloy' }],
    ['modalities', ['text']],
  ] as const) {
    assert.equal(
      refusal(chat({ messages, [field]: value })),
      `body.${field}: not supported by Anthropic`,
    );
  }
  assert.equal(
    refusal(chat({ messages, n: 2 })),
    'body.n other than 1: not supported by Anthropic',
  );
  assert.ok(translateToAnthropic(chat({ messages, n: 1, stream: false })).ok);
  assert.equal(
    refusal(chat({ messages, response_format: { type: 'json_schema', json_schema: {} } })),
    'body.response_format json_schema: not supported by Anthropic',
  );
  assert.ok(translateToAnthropic(chat({ messages, response_format: { type: 'text' } })).ok);
  assert.match(
    refusal(chat({ messages: [{ role: 'function', content: 'x' }] })),
    /role "function"/,
  );
  assert.equal(refusal(chat({ messages: undefined })), 'body.messages is required');
  assert.equal(refusal({ ...chat({ messages }), body: { messages } }), 'body.model is required');
});

test('other endpoints and methods are refused', () => {
  const embeddings = { custom_id: 'e', method: 'POST', url: '/v1/embeddings', body: {} };
  assert.equal(refusal(embeddings), '/v1/embeddings is not supported by Anthropic batches');
  assert.match(refusal({ ...chat({ messages: [] }), method: 'GET' }), /method GET/);
});

test('custom ids must suit Anthropic, in both forms', () => {
  const messages = [{ role: 'user', content: 'x' }];
  for (const id of ['has space', 'x'.repeat(65), '', 'é']) {
    assert.match(refusal(chat({ messages }, id)), /^custom_id .*1 to 64 letters, digits/);
    const native = { custom_id: id, params: { model: 'm', max_tokens: 5, messages } };
    assert.match(refusal(native), /^custom_id /);
  }
  assert.ok(translateToAnthropic(chat({ messages }, `A_b-${'9'.repeat(60)}`)).ok);
});

test('a native line passes through as it is, once it names a model and max_tokens', () => {
  const params = { model: 'claude-3-5-haiku-latest', max_tokens: 10, messages: [], top_k: 5 };
  assert.deepEqual(translateToAnthropic({ custom_id: 'n', params }), {
    ok: true,
    customId: 'n',
    model: 'claude-3-5-haiku-latest',
    line: { custom_id: 'n', params },
  });
  assert.equal(refusal({ custom_id: 'n', params: 'x' }), 'params: expected an object');
  assert.equal(refusal({ custom_id: 'n', params: { max_tokens: 1 } }), 'params.model is required');
  assert.equal(
    refusal({ custom_id: 'n', params: { model: 'm' } }),
    'params.max_tokens is required',
  );
});
