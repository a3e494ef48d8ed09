// The generated text of a response body, whatever the provider, so that downstream code reads
// `output_text` from every result line and does not care which API ran it.

type Json = Record<string, unknown>;

const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** The strings of `parts` whose `key` holds text, joined; null when there are none. */
function joined(parts: unknown, pick: (part: Json) => unknown): string | null {
  if (!Array.isArray(parts)) return null;
  const texts = parts
    .filter(isObject)
    .map(pick)
    .filter((t) => typeof t === 'string');
  return texts.length > 0 ? texts.join('') : null;
}

/**
 * The text a successful response generated, or null for bodies that generate none (embeddings,
 * moderations) or hold only tool calls: OpenAI chat completions (`choices[0].message.content`),
 * completions (`choices[0].text`), responses (`output[].content[]` of type `output_text`),
 * Anthropic messages (`content[]` of type `text`) and Gemini (`candidates[0].content.parts[]`).
 */
export function outputTextOf(body: unknown): string | null {
  if (!isObject(body)) return null;
  const { choices, output, content, candidates } = body;
  if (Array.isArray(choices)) {
    const [first] = choices;
    if (!isObject(first)) return null;
    if (typeof first.text === 'string') return first.text;
    const message = first.message;
    return isObject(message) && typeof message.content === 'string' ? message.content : null;
  }
  if (Array.isArray(output)) {
    const texts = output
      .filter(isObject)
      .map((item) => joined(item.content, (c) => (c.type === 'output_text' ? c.text : null)))
      .filter((t) => t !== null);
    return texts.length > 0 ? texts.join('') : null;
  }
  if (Array.isArray(content)) return joined(content, (c) => (c.type === 'text' ? c.text : null));
  if (Array.isArray(candidates)) {
    const [first] = candidates;
    if (!isObject(first) || !isObject(first.content)) return null;
    // Thought summaries are parts too, flagged `thought`: not the answer.
    return joined(first.content.parts, (p) => (p.thought ? null : p.text));
  }
  return null;
}
