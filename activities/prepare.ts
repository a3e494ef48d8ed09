import { Buffer } from 'node:buffer';
import { type ArtifactStore, artifactNames, StoreSettingsError } from '../src/artifacts.js';
import { cachedLineNumbers } from '../src/cache.js';
import { lookUpCache } from '../src/cache-lookup.js';
import { type JsonlWriter, scanJsonlLines } from '../src/jsonl.js';
import type { JsonSchema } from '../src/output-schema.js';
import { PROVIDER_RULES } from '../src/providers/rules.js';
import { RequestsValidator, summarizeValidation } from '../src/requests.js';
import { failures } from '../workflows/contract.js';
import { DEFAULT_PROVIDER } from '../workflows/provider-names.js';
import type {
  CachedLines,
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
 * again: parsing is most of the work.
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
  const parts: PartRef[] = [];
  let writer: JsonlWriter | null = null;
  let bytesRead = 0;
  const closePart = async (open: JsonlWriter) => {
    const { lines, bytes } = await open.commit();
    const part = parts.length + 1;
    parts.push({ index: part, artifact: artifactNames.part(part), requests: lines, bytes });
  };

  const looked = await lookUp(store, input, onProgress).catch((err: unknown) => {
    throw inputFailure(err, input.inputFile);
  });
  // Input lines the result cache answered (none without a lookup), in order.
  const answeredIn = looked?.artifact ?? input.cached;
  const answered = answeredIn
    ? cachedLineNumbers(store, input.runId, answeredIn)
    : (async function* () {})();
  let nextAnswered = await answered.next();
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
      // The result cache answered it: it is sent in no part (merge puts the answer in its place).
      if (!nextAnswered.done && nextAnswered.value === line.lineNo) {
        nextAnswered = await answered.next();
        continue;
      }
      const text = checked?.native ? JSON.stringify(checked.native) : line.text;
      const size = Buffer.byteLength(text) + 1;
      if (writer) {
        const { lines, bytes } = writer.stats;
        if (lines >= maxRequests || bytes + size > maxBytes) {
          await closePart(writer);
          writer = null;
        }
      }
      writer ??= await store.writer(input.runId, artifactNames.part(parts.length + 1));
      await writer.write(text);
    }
  } catch (err) {
    await writer?.abort();
    throw inputFailure(err, input.inputFile);
  } finally {
    await answered.return(undefined);
  }

  let found: Pick<PrepareResult, 'endpoint' | 'model' | 'total'>;
  if (trusted) {
    if (lines !== trusted.total) {
      await writer?.abort();
      throw changedSinceValidated(input.inputFile);
    }
    found = trusted;
  } else {
    const report = validator.report(bytesRead);
    if (!report.ok || !report.endpoint) {
      await writer?.abort();
      throw failures.InvalidInput(summarizeValidation(input.inputFile, report), {
        details: [report.errors],
      });
    }
    found = { endpoint: report.endpoint, model: report.model, total: report.total };
  }
  if (writer) await closePart(writer);

  const result: PrepareResult = {
    endpoint: found.endpoint,
    model: found.model,
    total: found.total,
    parts,
    ...(looked ? { cached: looked } : {}),
  };
  await store.writeJson(input.runId, artifactNames.manifest, result);
  return result;
}

/**
 * Looks the requests up in the result cache, when the run asks prepare to (since 0.5.1; submit
 * did it before), writing the run's `cached.jsonl`. A retry keeps what an earlier attempt wrote.
 */
async function lookUp(
  store: ArtifactStore,
  input: PrepareInput,
  onProgress?: OnProgress,
): Promise<CachedLines | null> {
  if (!input.lookUp) return null;
  const { any, outputSchema } = input.lookUp;
  const schema = outputSchema
    ? await store.readJson<JsonSchema>(input.runId, outputSchema)
    : undefined;
  const { hits } = await lookUpCache(store, input.runId, store.readInput(input.inputFile), {
    any,
    ...(input.provider ? { provider: input.provider } : {}),
    ...(schema ? { outputSchema: schema } : {}),
    onLine: (lineNo) => {
      if (lineNo % PROGRESS_EVERY_LINES === 0) onProgress?.(lineNo);
    },
  });
  return { artifact: artifactNames.cached, hits };
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
