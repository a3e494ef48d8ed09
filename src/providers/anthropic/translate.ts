// OpenAI chat completion batch lines as Anthropic Message Batches requests ({custom_id, params},
// https://docs.anthropic.com/en/api/creating-message-batches), after OpenAI's own mapping the
// other way (https://docs.anthropic.com/en/api/openai-sdk). What has no Anthropic equivalent is
// refused with the field named, rather than dropped: a request must not quietly mean less.
import type { LineTranslator, Translation } from '../translation.js';

type Json = Record<string, unknown>;

const CUSTOM_ID = /^[a-zA-Z0-9_-]{1,64}$/;
const CHAT = '/v1/chat/completions';

/**
 * Anthropic requires `max_tokens`; OpenAI's is optional (up to the model's limit). 4096 fits
 * every current Claude model's output limit and most answers; a request needing more says so.
 */
export const DEFAULT_MAX_TOKENS = 4096;

/** A request that cannot be sent to Anthropic, and why. */
class Untranslatable extends Error {}

const refuse = (message: string): never => {
  throw new Untranslatable(message);
};
const unsupported = (field: string): never => refuse(`${field}: not supported by Anthropic`);

const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** Fields with an Anthropic equivalent, each given its place in `params` by `translateBody`. */
const TRANSLATED = new Set([
  'model',
  'messages',
  'max_tokens',
  'max_completion_tokens',
  'temperature',
  'top_p',
  'stop',
  'tools',
  'tool_choice',
  'user',
  // Accepted only with the value that asks for nothing: n 1, stream false, text responses.
  'n',
  'stream',
  'response_format',
]);

export const translateToAnthropic: LineTranslator = (line) => {
  try {
    return translateLine(line);
  } catch (err) {
    if (err instanceof Untranslatable) return { ok: false, message: err.message };
    throw err;
  }
};

function translateLine(line: Json): Translation {
  const customId = line.custom_id;
  if (typeof customId !== 'string' || !CUSTOM_ID.test(customId)) {
    refuse(
      `custom_id ${JSON.stringify(customId)}: Anthropic takes 1 to 64 letters, digits, '_' or '-'`,
    );
  }
  const id = customId as string;
  if ('params' in line && !('body' in line)) return native(id, line.params);
  if (line.url !== CHAT) refuse(`${String(line.url)} is not supported by Anthropic batches`);
  if (line.method !== 'POST') refuse(`method ${String(line.method)}: batch requests are POSTs`);
  if (!isObject(line.body)) refuse('body: expected an object');
  const params = translateBody(line.body as Json);
  return { ok: true, customId: id, model: params.model as string, line: { custom_id: id, params } };
}

/** A line already in Anthropic's shape goes as it is. */
function native(customId: string, params: unknown): Translation {
  if (!isObject(params)) return refuse('params: expected an object');
  if (typeof params.model !== 'string') refuse('params.model is required');
  if (!Number.isInteger(params.max_tokens)) refuse('params.max_tokens is required');
  return {
    ok: true,
    customId,
    model: params.model as string,
    line: { custom_id: customId, params },
  };
}

function translateBody(body: Json): Json {
  for (const field of Object.keys(body)) {
    if (!TRANSLATED.has(field)) unsupported(`body.${field}`);
  }
  if (typeof body.model !== 'string') refuse('body.model is required');
  if (!Array.isArray(body.messages)) refuse('body.messages is required');
  if (body.n !== undefined && body.n !== 1) unsupported('body.n other than 1');
  if (body.stream !== undefined && body.stream !== false) unsupported('body.stream');
  const format = body.response_format;
  if (format !== undefined && !(isObject(format) && format.type === 'text')) {
    unsupported(`body.response_format ${isObject(format) ? String(format.type) : ''}`.trimEnd());
  }
  const maxTokens = body.max_completion_tokens ?? body.max_tokens ?? DEFAULT_MAX_TOKENS;
  const { system, messages } = translateMessages(body.messages as unknown[]);
  const params: Json = { model: body.model, max_tokens: maxTokens, messages };
  if (system !== null) params.system = system;
  if (body.temperature !== undefined && body.temperature !== null) {
    const t = body.temperature;
    if (typeof t !== 'number' || t < 0 || t > 1) {
      refuse(`body.temperature: Anthropic takes 0 to 1, not ${JSON.stringify(t)}`);
    }
    params.temperature = t;
  }
  if (body.top_p !== undefined && body.top_p !== null) params.top_p = body.top_p;
  if (typeof body.stop === 'string') params.stop_sequences = [body.stop];
  else if (Array.isArray(body.stop)) params.stop_sequences = body.stop;
  if (Array.isArray(body.tools)) params.tools = body.tools.map(translateTool);
  if (body.tool_choice !== undefined) params.tool_choice = translateToolChoice(body.tool_choice);
  if (typeof body.user === 'string') params.metadata = { user_id: body.user };
  return params;
}

interface Turn {
  role: 'user' | 'assistant';
  content: Json[];
}

/**
 * System and developer messages become `system`; tool results become `tool_result` blocks of a
 * user turn, and turns of the same role in a row are merged, as Anthropic wants one turn per
 * side (the results of parallel tool calls in one user turn).
 */
function translateMessages(input: unknown[]): { system: string | null; messages: Turn[] } {
  const system: string[] = [];
  const turns: Turn[] = [];
  input.forEach((message, i) => {
    const turn = translateMessage(message, `body.messages[${i}]`);
    const last = turns.at(-1);
    if ('system' in turn) system.push(turn.system);
    else if (last?.role === turn.role) last.content.push(...turn.content);
    else turns.push(turn);
  });
  return { system: system.length > 0 ? system.join('\n\n') : null, messages: turns };
}

function translateMessage(message: unknown, at: string): Turn | { system: string } {
  if (!isObject(message)) return refuse(`${at}: expected an object`);
  switch (message.role) {
    case 'system':
    case 'developer':
      return { system: textOf(message.content, `${at}.content`) };
    case 'user':
      return { role: 'user', content: contentBlocks(message.content, `${at}.content`) };
    case 'assistant': {
      const text = message.content ?? null;
      const blocks = text === null ? [] : contentBlocks(text, `${at}.content`);
      const calls = Array.isArray(message.tool_calls) ? message.tool_calls : [];
      const uses = calls.map((call, j) => toolUse(call, `${at}.tool_calls[${j}]`));
      return { role: 'assistant', content: [...blocks, ...uses] };
    }
    case 'tool':
      return {
        role: 'user',
        content: [
          {
            type: 'tool_result',
            tool_use_id: message.tool_call_id,
            content: textOf(message.content, `${at}.content`),
          },
        ],
      };
    default:
      return unsupported(`${at}.role ${JSON.stringify(message.role)}`);
  }
}

/** Text content: a string, or text parts. */
function textOf(content: unknown, at: string): string {
  if (typeof content === 'string') return content;
  return contentBlocks(content, at)
    .map((block) =>
      block.type === 'text' ? String(block.text) : unsupported(`${at}: ${block.type} parts`),
    )
    .join('\n');
}

function contentBlocks(content: unknown, at: string): Json[] {
  if (typeof content === 'string') return [{ type: 'text', text: content }];
  if (!Array.isArray(content)) return refuse(`${at}: expected a string or an array of parts`);
  return content.map((part: unknown, j) => {
    const where = `${at}[${j}]`;
    if (!isObject(part)) return refuse(`${where}: expected an object`);
    if (part.type === 'text') return { type: 'text', text: part.text };
    if (part.type === 'image_url' && isObject(part.image_url)) {
      return imageBlock(String(part.image_url.url), `${where}.image_url.url`);
    }
    return unsupported(`${where}.type ${JSON.stringify(part.type)}`);
  });
}

/** A data URL becomes a base64 source, an http(s) URL a url source. */
function imageBlock(url: string, at: string): Json {
  const data = /^data:([^;,]+);base64,(.*)$/s.exec(url);
  if (data) {
    return { type: 'image', source: { type: 'base64', media_type: data[1], data: data[2] } };
  }
  if (/^https?:\/\//.test(url)) return { type: 'image', source: { type: 'url', url } };
  return refuse(`${at}: expected a base64 data URL or an http(s) URL`);
}

function toolUse(call: unknown, at: string): Json {
  if (!isObject(call) || call.type !== 'function' || !isObject(call.function)) {
    return unsupported(`${at}: calls of tools other than functions`);
  }
  let input: unknown;
  try {
    input = JSON.parse(String(call.function.arguments ?? '{}'));
  } catch {
    return refuse(`${at}.function.arguments: not valid JSON`);
  }
  return { type: 'tool_use', id: call.id, name: call.function.name, input };
}

function translateTool(tool: unknown, i: number): Json {
  const at = `body.tools[${i}]`;
  if (!isObject(tool) || tool.type !== 'function' || !isObject(tool.function)) {
    return unsupported(`${at}: tools other than functions`);
  }
  const { name, description, parameters } = tool.function;
  return {
    name,
    ...(description === undefined ? {} : { description }),
    input_schema: parameters ?? { type: 'object', properties: {} },
  };
}

function translateToolChoice(choice: unknown): Json {
  if (choice === 'auto') return { type: 'auto' };
  if (choice === 'none') return { type: 'none' };
  if (choice === 'required') return { type: 'any' };
  if (isObject(choice) && choice.type === 'function' && isObject(choice.function)) {
    return { type: 'tool', name: choice.function.name };
  }
  return unsupported(`body.tool_choice ${JSON.stringify(choice)}`);
}
