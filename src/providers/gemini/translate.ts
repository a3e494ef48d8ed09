import type { LineTranslator, Translation } from '../translation.js';

// OpenAI chat lines → Gemini Batch Mode lines, `{key, request}` with a GenerateContentRequest
// (https://ai.google.dev/api/generate-content). A native line `{key, request}` passes through;
// Gemini lines name no model, so a native line gives it as a top-level "model", which is taken
// off the line written.

type Json = Record<string, unknown>;

const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** Chat body fields with a Gemini counterpart: [OpenAI name, generationConfig name]. */
const GENERATION_FIELDS: [string, string][] = [
  ['max_completion_tokens', 'maxOutputTokens'],
  ['max_tokens', 'maxOutputTokens'],
  ['temperature', 'temperature'],
  ['top_p', 'topP'],
  ['n', 'candidateCount'],
  ['seed', 'seed'],
  ['presence_penalty', 'presencePenalty'],
  ['frequency_penalty', 'frequencyPenalty'],
];

/** Fields that change nothing Gemini would do differently. */
const IGNORED = new Set(['model', 'messages', 'stream', 'user', 'store', 'metadata']);

const HANDLED = new Set([
  ...GENERATION_FIELDS.map(([name]) => name),
  'stop',
  'response_format',
  'tools',
  'tool_choice',
]);

class Unsupported extends Error {}

const unsupported = (field: string) => new Unsupported(`${field}: not supported by Gemini`);

function parts(content: unknown, where: string): Json[] {
  if (typeof content === 'string') return [{ text: content }];
  if (!Array.isArray(content)) throw unsupported(`${where}.content`);
  return content.map((part, i) => {
    if (isObject(part) && part.type === 'text' && typeof part.text === 'string') {
      return { text: part.text };
    }
    const url = isObject(part) && isObject(part.image_url) ? part.image_url.url : undefined;
    const data = typeof url === 'string' ? /^data:([^;,]+);base64,(.*)$/s.exec(url) : null;
    if (isObject(part) && part.type === 'image_url' && data) {
      return { inlineData: { mimeType: data[1], data: data[2] } };
    }
    throw unsupported(`${where}.content[${i}]`);
  });
}

function messages(body: Json): Json {
  if (!Array.isArray(body.messages)) throw unsupported('body.messages');
  const system: Json[] = [];
  const contents: Json[] = [];
  body.messages.forEach((message, i) => {
    const where = `body.messages[${i}]`;
    if (!isObject(message)) throw unsupported(where);
    switch (message.role) {
      case 'system':
      case 'developer':
        system.push(...parts(message.content, where));
        break;
      case 'user':
      case 'assistant':
        contents.push({
          role: message.role === 'user' ? 'user' : 'model',
          parts: parts(message.content, where),
        });
        break;
      default:
        throw unsupported(`${where}.role '${String(message.role)}'`);
    }
  });
  return { contents, ...(system.length > 0 ? { systemInstruction: { parts: system } } : {}) };
}

function generationConfig(body: Json): Json {
  const config: Json = {};
  for (const [from, to] of GENERATION_FIELDS) {
    if (body[from] !== undefined && body[from] !== null) config[to] = body[from];
  }
  if (body.stop !== undefined && body.stop !== null) {
    config.stopSequences = Array.isArray(body.stop) ? body.stop : [body.stop];
  }
  const format = body.response_format;
  if (isObject(format) && format.type === 'json_object')
    config.responseMimeType = 'application/json';
  else if (isObject(format) && format.type === 'json_schema' && isObject(format.json_schema)) {
    config.responseMimeType = 'application/json';
    config.responseJsonSchema = format.json_schema.schema;
  } else if (isObject(format) && format.type !== 'text') throw unsupported('body.response_format');
  return config;
}

function tools(body: Json): Json {
  if (body.tools === undefined) return {};
  if (!Array.isArray(body.tools)) throw unsupported('body.tools');
  const declarations = body.tools.map((tool, i) => {
    if (!isObject(tool) || tool.type !== 'function' || !isObject(tool.function)) {
      throw unsupported(`body.tools[${i}]`);
    }
    const { name, description, parameters } = tool.function;
    return {
      name,
      ...(description === undefined ? {} : { description }),
      ...(parameters === undefined ? {} : { parametersJsonSchema: parameters }),
    };
  });
  return { tools: [{ functionDeclarations: declarations }], ...toolConfig(body.tool_choice) };
}

function toolConfig(choice: unknown): Json {
  if (choice === undefined) return {};
  const modes: Record<string, string> = { auto: 'AUTO', none: 'NONE', required: 'ANY' };
  if (typeof choice === 'string' && modes[choice]) {
    return { toolConfig: { functionCallingConfig: { mode: modes[choice] } } };
  }
  if (isObject(choice) && isObject(choice.function) && typeof choice.function.name === 'string') {
    const names = [choice.function.name];
    return { toolConfig: { functionCallingConfig: { mode: 'ANY', allowedFunctionNames: names } } };
  }
  throw unsupported('body.tool_choice');
}

function fromChat(line: Json): Translation {
  const body = line.body;
  if (!isObject(body)) return { ok: false, message: 'body: expected an object' };
  if (typeof body.model !== 'string') return { ok: false, message: 'body.model: required' };
  const other = Object.keys(body).find((k) => !IGNORED.has(k) && !HANDLED.has(k));
  if (other) return { ok: false, message: `body.${other}: not supported by Gemini` };
  try {
    const config = generationConfig(body);
    const request = {
      ...messages(body),
      ...tools(body),
      ...(Object.keys(config).length > 0 ? { generationConfig: config } : {}),
    };
    return {
      ok: true,
      customId: String(line.custom_id),
      model: body.model,
      line: { key: line.custom_id, request },
    };
  } catch (err) {
    if (err instanceof Unsupported) return { ok: false, message: err.message };
    throw err;
  }
}

export const translateToGemini: LineTranslator = (line) => {
  if ('key' in line && 'request' in line) {
    const { model, ...native } = line;
    if (typeof native.key !== 'string' || native.key === '') {
      return { ok: false, message: 'key: expected a non-empty string' };
    }
    if (typeof model !== 'string' || model === '') {
      return {
        ok: false,
        message: 'model: a native Gemini line names its model in a top-level "model"',
      };
    }
    return { ok: true, customId: native.key, model, line: native };
  }
  if (typeof line.custom_id !== 'string' || line.custom_id === '') {
    return { ok: false, message: 'custom_id: expected a non-empty string' };
  }
  if (line.url !== '/v1/chat/completions') {
    return {
      ok: false,
      message: `url: ${String(line.url)} is not supported by Gemini (only /v1/chat/completions)`,
    };
  }
  return fromChat(line);
};
