import { Buffer } from 'node:buffer';
import { ApplicationFailure } from '@temporalio/common';
import { type ArtifactStore, artifactNames } from '../src/artifacts.js';
import { type JsonlWriter, scanJsonlLines } from '../src/jsonl.js';
import { RequestsValidator, summarizeValidation } from '../src/requests.js';
import type { PartRef, PrepareInput, PrepareResult } from '../workflows/types.js';
import { type OnProgress, PROGRESS_EVERY_LINES } from './heartbeat.js';

/**
 * Validates the input and splits it, in the same single pass, into parts of at most
 * `maxRequestsPerBatch` lines and `maxBytesPerBatch` bytes. Parts are contiguous slices in
 * input order, lines copied as they are except for CRLF (→ LF) and a leading BOM (dropped).
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
    throw ApplicationFailure.nonRetryable(
      `batch limits must be positive: ${maxRequests} requests, ${maxBytes} bytes`,
      'InvalidInput',
    );
  }

  const validator = new RequestsValidator({ endpoint: input.endpoint });
  const parts: PartRef[] = [];
  let writer: JsonlWriter | null = null;
  let bytesRead = 0;
  const closePart = async (open: JsonlWriter) => {
    const { lines, bytes } = await open.commit();
    const part = parts.length + 1;
    parts.push({ part, path: artifactNames.part(part), requests: lines, bytes });
  };

  try {
    // A line longer than a whole part fits in no part: the scan reports it as an error.
    for await (const line of scanJsonlLines(input.inputPath, { maxLineBytes: maxBytes })) {
      bytesRead += line.bytes;
      const request = validator.check(line);
      if (line.lineNo % PROGRESS_EVERY_LINES === 0) onProgress?.(line.lineNo);
      // Past the first error the run fails, so the rest is only read for the error report.
      if (!request || line.text === null || !validator.ok) continue;
      const size = Buffer.byteLength(line.text) + 1;
      if (writer) {
        const { lines, bytes } = writer.stats;
        if (lines >= maxRequests || bytes + size > maxBytes) {
          await closePart(writer);
          writer = null;
        }
      }
      writer ??= await store.writer(input.runId, artifactNames.part(parts.length + 1));
      await writer.write(line.text);
    }
  } catch (err) {
    await writer?.abort();
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw ApplicationFailure.nonRetryable(`${input.inputPath}: no such file`, 'InvalidInput');
    }
    throw err;
  }

  const report = validator.report(bytesRead);
  if (!report.ok || !report.endpoint) {
    await writer?.abort();
    throw ApplicationFailure.nonRetryable(
      summarizeValidation(input.inputPath, report),
      'InvalidInput',
      report.errors,
    );
  }
  if (writer) await closePart(writer);

  const result: PrepareResult = {
    endpoint: report.endpoint,
    model: report.model,
    total: report.total,
    parts,
  };
  await store.writeJson(input.runId, artifactNames.manifest, result);
  return result;
}
