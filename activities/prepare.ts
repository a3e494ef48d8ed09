import { Buffer } from 'node:buffer';
import { type ArtifactStore, artifactNames, StoreSettingsError } from '../src/artifacts.js';
import { cachedLineNumbers } from '../src/cache.js';
import { RunCacheLookup, type SendLine } from '../src/cache-lookup.js';
import { type JsonlWriter, scanJsonlLines } from '../src/jsonl.js';
import type { JsonSchema } from '../src/output-schema.js';
import { PROVIDER_RULES } from '../src/providers/rules.js';
import { RequestsValidator, summarizeValidation } from '../src/requests.js';
import { failures } from '../workflows/contract.js';
import { DEFAULT_PROVIDER } from '../workflows/provider-names.js';
import type {
  ClientValidation,
  InputLocation,
  PartRef,
  PrepareInput,
  PrepareResult,
} from '../workflows/types.js';
import { type OnProgress, PROGRESS_EVERY_LINES } from './heartbeat.js';

/**
 * Validates the input and splits it, in the same single pass, into parts of at most
 * `maxRequestsPerBatch` lines and `maxBytesPerBatch` bytes. Parts are contiguous slices in
 * input order, lines copied as they are except for CRLF (→ LF) and a leading BOM (dropped), or,
 * for a provider with its own request shape, translated into it.
 * The input is streamed from the store, wherever the client put it. When the client validated
 * this very file (same size and modification time), lines are split without being parsed
 * again: parsing is most of the work. Requests the result cache answers are looked up in the
 * same pass, and go to the run's `cached.jsonl` instead of a part.
 *
 * The manifest is written last, so its presence means an earlier attempt finished the job.
 */
export async function prepareParts(
  store: ArtifactStore,
  input: PrepareInput,
  onProgress?: OnProgress,
): Promise<PrepareResult> {
  const done = await store.readJson<PrepareResult>(input.runId, artifactNames.manifest);
  if (done) return done;
  const { maxRequestsPerBatch: maxRequests, maxBytesPerBatch: maxBytes } = input;
  if (!(maxRequests >= 1 && maxBytes >= 1)) {
    throw failures.InvalidInput(
      `batch limits must be positive: ${maxRequests} requests, ${maxBytes} bytes`,
    );
  }

  const { translate } = PROVIDER_RULES[input.provider ?? DEFAULT_PROVIDER];
  // Lines a provider takes in its own shape are parsed to be translated: the client's
  // validation saves nothing then.
  const trusted = translate ? null : await unchangedSince(store, input.inputFile, input.validated);
  const validator = new RequestsValidator({ endpoint: input.endpoint, translate });
  let lines = 0;
  let bytesRead = 0;
  const parts = new PartSplitter(store, input.runId, maxRequests, maxBytes);
  const { lookup, answered } = await cacheOf(store, input, (text) => parts.write(text));
  let nextAnswered = await answered.next();
  let answeredHits = 0;
  try {
    // A line longer than a whole part fits in no part: the scan reports it as an error.
    const requests = store.readInput(input.inputFile);
    for await (const line of scanJsonlLines(requests, { maxLineBytes: maxBytes })) {
      bytesRead += line.bytes;
      lines = line.lineNo;
      if (line.lineNo % PROGRESS_EVERY_LINES === 0) onProgress?.(line.lineNo);
      if (trusted && line.text === null) throw changedSinceValidated(input.inputFile);
      // Past the first error the run fails, so the rest is only read for the error report.
      const checked = trusted ? null : validator.check(line);
      if (!trusted && (!checked || !validator.ok)) continue;
      if (line.text === null) continue;
      // An earlier lookup answered it: it is sent in no part (merge puts the answer in its place).
      if (!nextAnswered.done && nextAnswered.value === line.lineNo) {
        answeredHits += 1;
        nextAnswered = await answered.next();
        continue;
      }
      const native = checked?.native as Record<string, unknown> | undefined;
      const text = native ? JSON.stringify(native) : line.text;
      // With nothing cached for the provider, no line waits on a lookup.
      if (!lookup?.looksUp) await parts.write(text);
      else await lookup.offer(line.lineNo, text, () => native ?? JSON.parse(text));
    }
  } catch (err) {
    await Promise.all([parts.abort(), lookup?.abort()]);
    throw inputFailure(err, input.inputFile);
  } finally {
    await answered.return(undefined);
  }

  let found: Pick<PrepareResult, 'endpoint' | 'model' | 'total'>;
  if (trusted) {
    if (lines !== trusted.total) {
      await Promise.all([parts.abort(), lookup?.abort()]);
      throw changedSinceValidated(input.inputFile);
    }
    found = trusted;
  } else {
    const report = validator.report(bytesRead);
    if (!report.ok || !report.endpoint) {
      await Promise.all([parts.abort(), lookup?.abort()]);
      throw failures.InvalidInput(summarizeValidation(input.inputFile, report), {
        details: [report.errors],
      });
    }
    found = { endpoint: report.endpoint, model: report.model, total: report.total };
  }
  // The lookups still in flight decide the last lines, in parts or in cached.jsonl.
  const looked = await lookup?.commit().catch(async (err: unknown) => {
    await parts.abort();
    throw err;
  });
  const hits = looked?.hits ?? answeredHits;

  const result: PrepareResult = {
    endpoint: found.endpoint,
    model: found.model,
    total: found.total,
    parts: await parts.close(),
    ...(input.lookUp ? { cached: { artifact: artifactNames.cached, hits } } : {}),
  };
  await store.writeJson(input.runId, artifactNames.manifest, result);
  return result;
}

/**
 * What the result cache does in this prepare. Asked to look up (since 0.5.1; submit did it
 * before), it looks each request up as it is split, unless the run's `cached.jsonl` exists: then
 * a lookup made earlier (by submit, over `--max-cost`, or by an attempt that crashed before the
 * manifest) stands, and its lines are left out, as are those of a 0.5.0 client's lookup.
 */
async function cacheOf(
  store: ArtifactStore,
  input: PrepareInput,
  send: SendLine,
): Promise<{ lookup: RunCacheLookup | null; answered: AsyncGenerator<number, void, undefined> }> {
  const none = { lookup: null, answered: (async function* () {})() };
  const earlier = input.lookUp ? artifactNames.cached : input.cached;
  if (earlier && (await store.exists(input.runId, earlier))) {
    return { ...none, answered: cachedLineNumbers(store, input.runId, earlier) };
  }
  if (!input.lookUp) return none;
  const { any, outputSchema } = input.lookUp;
  const schema = outputSchema
    ? await store.readJson<JsonSchema>(input.runId, outputSchema)
    : undefined;
  const options = {
    any,
    ...(input.provider ? { provider: input.provider } : {}),
    ...(schema ? { outputSchema: schema } : {}),
  };
  return { ...none, lookup: await RunCacheLookup.open(store, input.runId, options, send) };
}

/** Writes lines, in order, into parts of at most `maxRequests` lines and `maxBytes` bytes. */
class PartSplitter {
  private readonly parts: PartRef[] = [];
  private open: JsonlWriter | null = null;

  constructor(
    private readonly store: ArtifactStore,
    private readonly runId: string,
    private readonly maxRequests: number,
    private readonly maxBytes: number,
  ) {}

  async write(text: string): Promise<void> {
    const size = Buffer.byteLength(text) + 1;
    if (this.open) {
      const { lines, bytes } = this.open.stats;
      if (lines >= this.maxRequests || bytes + size > this.maxBytes) await this.closeOpen();
    }
    this.open ??= await this.store.writer(this.runId, artifactNames.part(this.parts.length + 1));
    await this.open.write(text);
  }

  /** Commits the last part; returns them all. */
  async close(): Promise<PartRef[]> {
    await this.closeOpen();
    return this.parts;
  }

  async abort(): Promise<void> {
    await this.open?.abort();
  }

  private async closeOpen(): Promise<void> {
    if (!this.open) return;
    const { lines, bytes } = await this.open.commit();
    this.open = null;
    const index = this.parts.length + 1;
    this.parts.push({ index, artifact: artifactNames.part(index), requests: lines, bytes });
  }
}

/** What reading the input failed with, as the run's failure. */
function inputFailure(err: unknown, inputFile: InputLocation): unknown {
  if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
    return failures.InvalidInput(`${inputFile}: no such file`);
  }
  // An input this worker's store cannot read will not become readable on a retry.
  if (err instanceof StoreSettingsError) return failures.InvalidInput(err.message);
  return err;
}

/** The client's validation, if it was of the input as it is now. */
async function unchangedSince(
  store: ArtifactStore,
  location: InputLocation,
  validated: ClientValidation | undefined,
): Promise<ClientValidation | null> {
  if (!validated) return null;
  const now = await store.inputVersion(location).catch(() => null);
  return now?.bytes === validated.bytes && now.mtimeMs === validated.mtimeMs ? validated : null;
}

function changedSinceValidated(path: string) {
  return failures.InvalidInput(`${path}: changed since it was validated; submit it again`);
}
