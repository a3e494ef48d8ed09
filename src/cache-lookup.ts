// What a run's prepare does with the result cache before anything is sent (submit did it before
// 0.5.1, and blocked on hashing every request): looks every request up as it splits the input,
// and writes the answers it found into the run's cached.jsonl, leaving them out of the parts for
// merge to put back in their places.
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
import { type ByteSource, type JsonlWriter, readJsonlLines } from './jsonl.js';
import type { JsonSchema, OutputValidator } from './output-schema.js';
import { PROVIDER_RULES } from './providers/rules.js';
import { checkTranslatedLine, customIdOf } from './requests.js';

export interface CacheLookupOptions {
  provider?: ProviderName;
  /** Serve requests that ask for varied answers too (`--cache-any`). */
  any?: boolean;
  /** The run's output schema: a cached output must match it to be served. */
  outputSchema?: JsonSchema;
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
  /** The line as it is sent. */
  text: string;
  /** The lookup; null when there is nothing to look up (a varied request, an empty cache). */
  entry: Promise<CacheEntry | null> | null;
  /** The schema its output must match (undefined: none). */
  schema: JsonSchema | undefined;
}

/** Where a request the cache did not answer goes (a part, for prepare), in input order. */
export type SendLine = (text: string) => Promise<void>;

/**
 * Looks a run's requests up as they are read, with a few dozen lookups in flight, and writes its
 * `cached.jsonl`, whole, even when nothing was found: its presence says the run looked. Each
 * request is decided in input order: an answer found goes to `cached.jsonl`, any other request
 * to `send`. With nothing cached for the provider (a first run) no request is hashed.
 */
export class RunCacheLookup {
  private readonly result: CacheLookup = { hits: 0, lines: [], varied: 0 };
  private readonly window: Pending[] = [];

  private constructor(
    private readonly provider: ProviderName,
    private readonly any: boolean,
    private readonly index: CacheIndex,
    private readonly outputs: Outputs,
    private readonly writer: JsonlWriter,
    private readonly send: SendLine,
  ) {}

  static async open(
    store: ArtifactStore,
    runId: string,
    options: CacheLookupOptions,
    send: SendLine,
  ): Promise<RunCacheLookup> {
    const provider = options.provider ?? DEFAULT_PROVIDER;
    const outputs = new Outputs(options.outputSchema, PROVIDER_RULES[provider].translate === null);
    const index = await CacheIndex.load(store, provider);
    const writer = await store.writer(runId, artifactNames.cached);
    return new RunCacheLookup(provider, options.any ?? false, index, outputs, writer, send);
  }

  /** Whether anything is cached for the provider: if not, no request needs parsing. */
  get looksUp(): boolean {
    return this.index.size > 0;
  }

  /** Offers the next request: its line, its text as sent, and that text parsed (when asked). */
  async offer(line: number, text: string, parsed: () => Record<string, unknown>): Promise<void> {
    let entry: Pending['entry'] = null;
    if (this.looksUp) {
      const sent = parsed();
      if (this.any || !asksForVariety(sent))
        entry = this.index.get(cacheKeyOf(this.provider, sent));
      else this.result.varied += 1;
    }
    // A line with nothing to look up (a varied request) and none in flight before it: decided.
    if (entry === null && this.window.length === 0) return this.send(text);
    const schema = entry ? await this.outputs.schemaOf(text) : undefined;
    this.window.push({ line, text, entry, schema });
    // A request that needs no lookup is decided as soon as those before it are.
    while (
      this.window.length >= LOOKUPS_IN_FLIGHT ||
      (this.window.length > 0 && this.window[0]?.entry === null)
    ) {
      await this.take();
    }
  }

  /** Decides the requests still in flight and commits `cached.jsonl`. */
  async commit(): Promise<CacheLookup> {
    while (this.window.length > 0) await this.take();
    await this.writer.commit();
    return this.result;
  }

  async abort(): Promise<void> {
    await this.writer.abort();
  }

  private async take(): Promise<void> {
    const { line, text, entry, schema } = this.window.shift() as Pending;
    const found = await entry;
    const result = found ? cachedResult(found, customIdOf(text)) : null;
    if (!result || !(await this.outputs.check(result, schema))) return this.send(text);
    this.result.hits += 1;
    this.result.lines.push(line);
    await this.writer.write(JSON.stringify({ line, result } satisfies CachedLine));
  }
}

/**
 * Looks up every request of a validated input (in the shape it is sent: translated for a
 * provider with its own) and writes the run's `cached.jsonl`. A run that has one already (a
 * submit retried, or a run that exists) keeps it: its parts may have been cut by it.
 */
export async function lookUpCache(
  store: ArtifactStore,
  runId: string,
  requests: ByteSource,
  options: CacheLookupOptions = {},
): Promise<CacheLookup> {
  if (await store.exists(runId, artifactNames.cached)) return earlierLookup(store, runId);
  const { translate } = PROVIDER_RULES[options.provider ?? DEFAULT_PROVIDER];
  const lookup = await RunCacheLookup.open(store, runId, options, async () => {});
  if (!lookup.looksUp) return lookup.commit();
  try {
    for await (const { lineNo, text } of readJsonlLines(requests)) {
      const sent = sentLine(text, translate);
      if (sent) await lookup.offer(lineNo, text, () => sent);
    }
  } catch (err) {
    await lookup.abort();
    throw err;
  }
  return lookup.commit();
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
