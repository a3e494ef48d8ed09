import { once } from 'node:events';
import { createWriteStream, type WriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { finished } from 'node:stream/promises';
import { statusErrorBody } from './errors.js';
import { fakeResponseBody, requestProblem } from './fake-responses.js';
import { inputLines } from './input-scan.js';
import { derange, type Random, randomId } from './random.js';
import type { RequestPlan } from './request-plan.js';
import type { BatchRecord, FileRecord, Store } from './store.js';

export type UnfinishedCode = 'batch_expired' | 'batch_cancelled';

const UNFINISHED_MESSAGES: Record<UnfinishedCode, string> = {
  batch_expired: 'This request could not be executed before the completion window expired.',
  batch_cancelled: 'This request was not executed because the batch was cancelled.',
};

/** Lines shuffled together; bounds memory while keeping the output order unlike the input. */
const SHUFFLE_WINDOW = 1000;

/** A result file on disk, not yet among the store's files. */
export type ResultFile = Pick<FileRecord, 'filename' | 'purpose' | 'bytes' | 'lines' | 'path'>;

export interface WrittenFiles {
  output: ResultFile | null;
  error: ResultFile | null;
}

/**
 * Streams the batch's output and error files from its input file: the first `done` requests
 * (in plan order) get their result, the rest an `unfinished` error line. A file with no lines is
 * not created, as OpenAI leaves `output_file_id` / `error_file_id` null then. The files join the
 * store only through `attachResults`, together with the batch's end, so a saved state never
 * holds result files of a batch that is still to write them.
 */
export async function writeResults(args: {
  store: Store;
  batch: BatchRecord;
  plan: RequestPlan;
  done: number;
  /** Error code for the requests not done; only needed when `done` is short of all. */
  unfinished?: UnfinishedCode;
  random: Random;
  signal: AbortSignal;
}): Promise<WrittenFiles> {
  const { store, batch, plan, done, random, signal } = args;
  const output = new ShuffledJsonlSink(store.newFilePath(), random);
  const error = new ShuffledJsonlSink(store.newFilePath(), random);
  const created = batch.in_progress_at ?? batch.created_at;
  try {
    let index = 0;
    for await (const { request } of inputLines(batch.input_path)) {
      signal.throwIfAborted();
      const i = index++;
      const id = randomId('batch_req_');
      const customId = request.custom_id;
      if (!plan.isDone(i, done)) {
        const code = args.unfinished ?? 'batch_expired';
        const err = { code, message: UNFINISHED_MESSAGES[code] };
        await error.push({ id, custom_id: customId, response: null, error: err });
        continue;
      }
      const status = plan.statuses[i] as number;
      const body =
        status === 200
          ? fakeResponseBody(batch.endpoint, request.body, customId, created, {
              invalidOutput: plan.invalidOutputs[i] === 1,
            })
          : (requestProblem(batch.endpoint, request.body) ?? statusErrorBody(status));
      const response = { status_code: status, request_id: randomId('req_'), body };
      await (status === 200 ? output : error).push({
        id,
        custom_id: customId,
        response,
        error: null,
      });
    }
    return {
      output: await output.close(`${batch.id}_output.jsonl`),
      error: await error.close(`${batch.id}_error.jsonl`),
    };
  } catch (err) {
    await Promise.all([output.discard(), error.discard()]);
    throw err;
  }
}

export function attachResults(store: Store, batch: BatchRecord, files: WrittenFiles): void {
  const lifetime = batch.output_expires_after_seconds;
  batch.output_file_id = files.output ? store.addFile(files.output, lifetime).id : null;
  batch.error_file_id = files.error ? store.addFile(files.error, lifetime).id : null;
}

export async function discardResults(files: WrittenFiles): Promise<void> {
  const paths = [files.output?.path, files.error?.path];
  await Promise.all(paths.map((path) => path && rm(path, { force: true })));
}

class ShuffledJsonlSink {
  private window: string[] = [];
  private stream: WriteStream | null = null;
  private bytes = 0;
  private lines = 0;

  constructor(
    private readonly path: string,
    private readonly random: Random,
  ) {}

  async push(record: unknown): Promise<void> {
    this.window.push(`${JSON.stringify(record)}\n`);
    if (this.window.length >= SHUFFLE_WINDOW) await this.flush();
  }

  async close(filename: string): Promise<ResultFile | null> {
    await this.flush();
    if (!this.stream) return null;
    this.stream.end();
    await finished(this.stream);
    const { path, bytes, lines } = this;
    return { filename, purpose: 'batch_output', bytes, lines, path };
  }

  async discard(): Promise<void> {
    this.stream?.destroy();
    await rm(this.path, { force: true });
  }

  private async flush(): Promise<void> {
    if (this.window.length === 0) return;
    derange(this.window, this.random);
    this.stream ??= createWriteStream(this.path);
    for (const line of this.window) {
      this.bytes += Buffer.byteLength(line);
      this.lines++;
      if (!this.stream.write(line)) await once(this.stream, 'drain');
    }
    this.window = [];
  }
}
