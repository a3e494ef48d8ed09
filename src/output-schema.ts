// Structured output: the JSON Schema a request asks its response to follow, and the check of a
// response's text against it (JSON Schema draft 2020-12, as OpenAI's structured outputs use).
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';

/** A JSON Schema: an object, or `true`/`false`. */
export type JsonSchema = boolean | Record<string, unknown>;

/** What `response_format: {type: 'json_object'}` asks for: any JSON object. */
const ANY_OBJECT: JsonSchema = { type: 'object' };

type Json = Record<string, unknown>;

const objectOf = (value: unknown): Json | undefined =>
  typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Json)
    : undefined;

/** The schema of either API's format setting (chat's `json_schema` nests it one level deeper). */
function schemaOfFormat(format: Json | undefined, nested: boolean): JsonSchema | undefined {
  if (format?.type === 'json_object') return ANY_OBJECT;
  if (format?.type !== 'json_schema') return undefined;
  const schema = nested ? objectOf(format.json_schema)?.schema : format.schema;
  return typeof schema === 'boolean' ? schema : (objectOf(schema) ?? ANY_OBJECT);
}

/**
 * The schema an OpenAI request body asks its output to follow: Chat Completions'
 * `response_format` or the Responses API's `text.format`; undefined when it asks for text.
 */
export function requestSchemaOf(body: unknown): JsonSchema | undefined {
  const request = objectOf(body);
  return (
    schemaOfFormat(objectOf(request?.response_format), true) ??
    schemaOfFormat(objectOf(objectOf(request?.text)?.format), false)
  );
}

/** How many of the validator's errors a message names: the first few say what is wrong. */
const ERRORS_SHOWN = 3;

export type OutputCheck =
  | { ok: true; value: unknown }
  /** `final` when another attempt cannot help: the schema itself does not compile. */
  | { ok: false; message: string; final: boolean };

/**
 * Checks outputs against schemas, compiling each distinct schema once (a run's lines usually
 * share one, and compiling costs far more than validating).
 */
export class OutputValidator {
  private readonly ajv = new Ajv2020({ strict: false });
  private readonly compiled = new Map<string, ValidateFunction | Error>();

  constructor() {
    addFormats.default(this.ajv);
  }

  /** Throws when `schema` is not a schema the validator can compile. */
  compile(schema: JsonSchema): ValidateFunction {
    const key = JSON.stringify(schema);
    let validate = this.compiled.get(key);
    if (!validate) {
      try {
        validate = this.ajv.compile(schema);
      } catch (err) {
        validate = err as Error;
      }
      this.compiled.set(key, validate);
    }
    if (validate instanceof Error) throw validate;
    return validate;
  }

  check(text: string | null, schema: JsonSchema): OutputCheck {
    let validate: ValidateFunction;
    try {
      validate = this.compile(schema);
    } catch (err) {
      return {
        ok: false,
        message: `the schema does not compile: ${(err as Error).message}`,
        final: true,
      };
    }
    let value: unknown;
    try {
      value = JSON.parse(text ?? '');
    } catch (err) {
      return { ok: false, message: `not valid JSON: ${(err as Error).message}`, final: false };
    }
    if (validate(value)) return { ok: true, value };
    return { ok: false, message: describe(validate.errors ?? []), final: false };
  }
}

/** `/answer must be number; / must have required property 'reason'`, at most a few. */
function describe(errors: ErrorObject[]): string {
  const shown = errors
    .slice(0, ERRORS_SHOWN)
    .map((e) => `${e.instancePath || '/'} ${e.message ?? 'is invalid'}`);
  return `does not match the schema: ${shown.join('; ')}`;
}
