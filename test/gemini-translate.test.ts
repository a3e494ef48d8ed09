import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { translateToGemini } from '../src/providers/gemini/translate.js';

const chat = (body: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  custom_id: 'c1',
  method: 'POST',
  url: '/v1/chat/completions',
  body: { model: 'gemini-2.5-flash', messages: [{ role: 'user', content: 'Hi' }], ...body },
  ...extra,
});

describe('translateToGemini', () => {
  test('maps messages, roles and the system prompt', () => {
    const t = translateToGemini(
      chat({
        messages: [
          { role: 'system', content: 'Be brief.' },
          { role: 'developer', content: [{ type: 'text', text: 'Really.' }] },
          { role: 'user', content: 'Hi' },
          { role: 'assistant', content: 'Hello' },
          {
            role: 'user',
            content: [
              { type: 'text', text: 'And this?' },
              { type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA' } },
            ],
          },
        ],
      }),
    );
    assert.deepEqual(t, {
      ok: true,
      customId: 'c1',
      model: 'gemini-2.5-flash',
      line: {
        key: 'c1',
        request: {
          systemInstruction: { parts: [{ text: 'Be brief.' }, { text: 'Really.' }] },
          contents: [
            { role: 'user', parts: [{ text: 'Hi' }] },
            { role: 'model', parts: [{ text: 'Hello' }] },
            {
              role: 'user',
              parts: [
                { text: 'And this?' },
                { inlineData: { mimeType: 'image/png', data: 'AAAA' } },
              ],
            },
          ],
        },
      },
    });
  });

  test('maps sampling settings, stop and JSON output', () => {
    const t = translateToGemini(
      chat({
        max_completion_tokens: 100,
        temperature: 0.2,
        top_p: 0.9,
        stop: 'END',
        n: 2,
        seed: 7,
        presence_penalty: 0.1,
        frequency_penalty: 0.3,
        response_format: {
          type: 'json_schema',
          json_schema: { name: 's', schema: { type: 'object' } },
        },
      }),
    );
    assert.ok(t.ok);
    assert.deepEqual(
      (t.line as { request: { generationConfig: unknown } }).request.generationConfig,
      {
        maxOutputTokens: 100,
        temperature: 0.2,
        topP: 0.9,
        candidateCount: 2,
        seed: 7,
        presencePenalty: 0.1,
        frequencyPenalty: 0.3,
        stopSequences: ['END'],
        responseMimeType: 'application/json',
        responseJsonSchema: { type: 'object' },
      },
    );
    const json = translateToGemini(
      chat({ max_tokens: 5, response_format: { type: 'json_object' } }),
    );
    assert.deepEqual(
      json.ok && (json.line as { request: { generationConfig: unknown } }).request.generationConfig,
      {
        maxOutputTokens: 5,
        responseMimeType: 'application/json',
      },
    );
  });

  test('maps function tools and tool_choice', () => {
    const t = translateToGemini(
      chat({
        tools: [
          {
            type: 'function',
            function: { name: 'f', description: 'd', parameters: { type: 'object' } },
          },
        ],
        tool_choice: { type: 'function', function: { name: 'f' } },
      }),
    );
    assert.ok(t.ok);
    const request = (t.line as { request: Record<string, unknown> }).request;
    assert.deepEqual(request.tools, [
      {
        functionDeclarations: [
          { name: 'f', description: 'd', parametersJsonSchema: { type: 'object' } },
        ],
      },
    ]);
    assert.deepEqual(request.toolConfig, {
      functionCallingConfig: { mode: 'ANY', allowedFunctionNames: ['f'] },
    });
    const auto = translateToGemini(
      chat({ tools: [{ type: 'function', function: { name: 'g' } }], tool_choice: 'required' }),
    );
    assert.deepEqual(
      auto.ok && (auto.line as { request: Record<string, unknown> }).request.toolConfig,
      {
        functionCallingConfig: { mode: 'ANY' },
      },
    );
  });

  test('refuses what Gemini cannot do, naming the field', () => {
    for (const [body, field] of [
      [{ logprobs: true }, 'body.logprobs'],
      [{ logit_bias: { 1: 2 } }, 'body.logit_bias'],
      [{ audio: {} }, 'body.audio'],
      [{ messages: [{ role: 'tool', content: 'x' }] }, "body.messages[0].role 'tool'"],
      [
        { messages: [{ role: 'user', content: [{ type: 'input_audio' }] }] },
        'body.messages[0].content[0]',
      ],
      [{ tools: [{ type: 'web_search' }] }, 'body.tools[0]'],
    ] as const) {
      assert.deepEqual(translateToGemini(chat(body)), {
        ok: false,
        message: `${field}: not supported by Gemini`,
      });
    }
    const embeddings = translateToGemini(chat({}, { url: '/v1/embeddings' }));
    assert.equal(embeddings.ok, false);
    assert.match(embeddings.ok ? '' : embeddings.message, /\/v1\/embeddings/);
  });

  test('passes a native line through, taking its model off the line', () => {
    const request = { contents: [{ parts: [{ text: 'Hi' }] }] };
    assert.deepEqual(translateToGemini({ key: 'k1', request, model: 'gemini-2.5-pro' }), {
      ok: true,
      customId: 'k1',
      model: 'gemini-2.5-pro',
      line: { key: 'k1', request },
    });
    assert.equal(translateToGemini({ key: 'k1', request }).ok, false);
  });
});
