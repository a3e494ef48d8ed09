import { type JsonSchema, requestSchemaOf } from '../output-schema.js';
import { hash32 } from './random.js';

// The text a structured-output request is answered with: a minimal instance of its schema, or,
// under the invalid_output fault, text that is not JSON or does not match. Simple schemas only
// (no $ref, no patterns): enough for tests of what a client does with the answers.

type Json = Record<string, unknown>;

/** The smallest value that `schema` accepts, for the keywords the emulator understands. */
export function exampleOf(schema: JsonSchema | undefined): unknown {
  if (typeof schema !== 'object') return {};
  if ('const' in schema) return schema.const;
  if (Array.isArray(schema.enum)) return schema.enum[0];
  const [alternative] = [schema.anyOf, schema.oneOf].find(Array.isArray) ?? [];
  if (alternative !== undefined) return exampleOf(alternative as JsonSchema);
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  const positive = (n: unknown) => (Number.isInteger(n) && (n as number) > 0 ? (n as number) : 0);
  switch (type) {
    case 'string':
      return 'x'.repeat(positive(schema.minLength));
    case 'integer':
    case 'number':
      return typeof schema.minimum === 'number' ? schema.minimum : 0;
    case 'boolean':
      return true;
    case 'null':
      return null;
    case 'array':
      return Array.from({ length: positive(schema.minItems) }, () =>
        exampleOf(schema.items as JsonSchema | undefined),
      );
    default: {
      const properties = (schema.properties ?? {}) as Record<string, JsonSchema>;
      const required = Array.isArray(schema.required) ? (schema.required as string[]) : [];
      return Object.fromEntries(required.map((key) => [key, exampleOf(properties[key])]));
    }
  }
}

/**
 * The output text for a request that asks for structured output (undefined for one that asks
 * for text). An invalid one is, by its custom_id, either cut-off JSON or `null` (which no
 * object, array or scalar schema but `null`'s accepts), so a test sees both kinds.
 */
export function structuredText(body: Json, customId: string, invalid: boolean): string | undefined {
  const schema = requestSchemaOf(body);
  if (schema === undefined) return undefined;
  const example = exampleOf(schema);
  if (!invalid) return JSON.stringify(example);
  if (hash32(customId) % 2 === 0) return JSON.stringify(example).slice(0, -1) || '{';
  return example === null ? '"null"' : 'null';
}
