// What a run's prepare does with the result cache before anything is sent (submit did it before
// 0.5.1, and blocked on hashing every request): looks every request up and writes the answers it
// found into the run's cached.jsonl, for prepare to leave out of the parts and merge to put back
// in their places.
import { DEFAULT_PROVIDER, type ProviderName } from '../workflows/provider-names.js';
import type { ResultLine } from '../workflows/types.js';
import { type ArtifactStore, artifactNames } from './artifacts.js';
import {
  asksForVariety,
  type CachedLine,
  type CacheEntry,
  cachedLineNumbers,
  cachedResult,
  cacheKeyOf,
} from './cache.js';
import { CacheIndex } from './cache-index.js';
import { type ByteSource, readJsonlLines } from './jsonl.js';
import type { JsonSchema, OutputValidator } from './output-schema.js';
import { PROVIDER_RULES } from './providers/rules.js';
import { checkTranslatedLine } from './requests.js';

export interface CacheLookupOptions {
  provider?: ProviderName;
  /** Serve requests that ask for varied answers too (`--cache-any`). */
  any?: boolean;
  /** The run's output schema: a cached output must match it to be served. */
  outputSchema?: JsonSchema;
  /** Called with each line number read, for progress. */
  onLine?: (lineNo: number) => void;
}

export interface CacheLookup {
  /** Requests answered from the cache. */
  hits: number;
  /** Their input line numbers, in order. */
  lines: number[];
  /** Requests not looked up because they ask for varied answers (temperature, n). */
  varied: number;
}

/** Lookups in flight at once: a store's latency, hidden. */
const LOOKUPS_IN_FLIGHT = 32;

interface Pending {
  line: number;
  customId: string;
  entry: Promise<CacheEntry | null>;
  /** The schema its output must match (undefined: none). */
  schema: JsonSchema | undefined;
}

/**
 * Looks up every request of a validated input (in the shape it is sent: translated for a
 * provider with its own) and writes the run's `cached.jsonl`, whole, even when nothing was
 * found: its presence says the run looked. A run that has one already (a submit retried, or a
 * run that exists) keeps it: its parts may have been cut by it.
 */
export async function lookUpCache(
  store: ArtifactStore,
  runId: string,
  requests: ByteSource,
  options: CacheLookupOptions = {},
): Promise<CacheLookup> {
  if (await store.exists(runId, artifactNames.cached)) return earlierLookup(store, runId);
  const provider = options.provider ?? DEFAULT_PROVIDER;
  const { translate } = PROVIDER_RULES[provider];
  const outputs = new Outputs(options.outputSchema, translate === null);
  const lookup: CacheLookup = { hits: 0, lines: [], varied: 0 };
  const index = await CacheIndex.load(store, provider);
  const writer = await store.writer(runId, artifactNames.cached);
  // Nothing cached for the provider (a first run): no request is worth hashing.
  if (index.size === 0) {
    await writer.commit();
    return lookup;
  }
  // Answers are taken in input order, however the lookups finish.
  const window: Pending[] = [];
  const take = async () => {
    const { line, customId, entry, schema } = window.shift() as Pending;
    const found = await entry;
    if (!found) return;
    const result = cachedResult(found, customId);
    if (!(await outputs.check(result, schema))) return;
    lookup.hits += 1;
    lookup.lines.push(line);
    await writer.write(JSON.stringify({ line, result } satisfies CachedLine));
  };
  try {
    for await (const { lineNo, text } of readJsonlLines(requests)) {
      options.onLine?.(lineNo);
      const sent = sentLine(text, translate);
      if (!sent) continue;
      if (!options.any && asksForVariety(sent)) {
        lookup.varied += 1;
        continue;
      }
      const customId = String(sent.custom_id ?? sent.key);
      const entry = index.get(cacheKeyOf(provider, sent));
      window.push({ line: lineNo, customId, entry, schema: await outputs.schemaOf(text) });
      if (window.length >= LOOKUPS_IN_FLIGHT) await take();
    }
    while (window.length > 0) await take();
  } catch (err) {
    await writer.abort();
    throw err;
  }
  await writer.commit();
  return lookup;
}

async function earlierLookup(store: ArtifactStore, runId: string): Promise<CacheLookup> {
  const lookup: CacheLookup = { hits: 0, lines: [], varied: 0 };
  for await (const line of cachedLineNumbers(store, runId, artifactNames.cached)) {
    lookup.hits += 1;
    lookup.lines.push(line);
  }
  return lookup;
}

/**
 * A line as the provider is sent it (null for one that is not valid: the validation, after the
 * lookup, reports it).
 */
function sentLine(
  text: string,
  translate: (typeof PROVIDER_RULES)[ProviderName]['translate'],
): Record<string, unknown> | null {
  if (!translate) {
    try {
      const line: unknown = JSON.parse(text);
      return line && typeof line === 'object' ? (line as Record<string, unknown>) : null;
    } catch {
      return null;
    }
  }
  const checked = checkTranslatedLine(text, translate);
  return checked.ok ? (checked.request.native as Record<string, unknown>) : null;
}

/**
 * The outputs of cached answers, checked as classify checks them (the request's own schema, else
 * the run's): an answer to the same request under another run's schema may not match this one.
 * The validator is loaded only for a run that has schemas.
 */
class Outputs {
  private validator: Promise<OutputValidator> | null = null;
  private schemas: Promise<typeof import('./output-schema.js')> | null = null;

  constructor(
    private readonly runSchema: JsonSchema | undefined,
    /** Whether lines are OpenAI's, which may carry a schema of their own. */
    private readonly ownSchemas: boolean,
  ) {}

  async schemaOf(text: string): Promise<JsonSchema | undefined> {
    // Only a line that may ask for a format (`response_format`, `format`) is worth parsing.
    if (!this.ownSchemas || !text.includes('format"')) return this.runSchema;
    this.schemas ??= import('./output-schema.js');
    const { body } = JSON.parse(text) as { body?: unknown };
    return (await this.schemas).requestSchemaOf(body) ?? this.runSchema;
  }

  /** Whether the answer's output matches its schema, setting `output` to what it parses to. */
  async check(result: ResultLine, schema: JsonSchema | undefined): Promise<boolean> {
    delete result.output;
    if (schema === undefined) return true;
    this.validator ??= import('./output-schema.js').then((m) => new m.OutputValidator());
    const checked = (await this.validator).check(result.output_text ?? null, schema);
    if (checked.ok) result.output = checked.value;
    return checked.ok;
  }
}
