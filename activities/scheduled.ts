import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import type { ArtifactStore } from '../src/artifacts.js';
import { checkInput, InvalidInputError, inputPathFor, runInputFor } from '../src/client.js';
import { formatValidationError } from '../src/requests.js';
import { LocalArtifactStore } from '../src/store/local.js';
import { TemplateInputError, writeTemplateRequests } from '../src/templates.js';
import { failures } from '../workflows/contract.js';
import type { PrepareScheduledInput, RunInput, ScheduledRunSpec } from '../workflows/types.js';

/**
 * What `submit` does on the client, done in the worker at a schedule's firing, since the input
 * is read afresh each time: template mode's requests built, the file validated and put where
 * the workers read it, the cache looked up. Bad input fails the firing for good, naming lines.
 */
export async function prepareScheduledRun(
  store: ArtifactStore,
  { runId, spec }: PrepareScheduledInput,
): Promise<RunInput> {
  const built = spec.template ? await buildInput(store, runId, spec.template) : null;
  try {
    const input = built ?? spec.input;
    if (!input) throw failures.InvalidInput(`schedule ${spec.name} names no input`);
    const check = await checkInput(store, input, spec.options);
    return await runInputFor(store, runId, input, check, spec.options);
  } catch (err) {
    if (err instanceof InvalidInputError) throw failures.InvalidInput(err.message);
    throw err;
  } finally {
    // Built in a temp folder for the S3 store, which now holds its copy.
    if (built && !(store instanceof LocalArtifactStore)) await rm(built, { force: true });
  }
}

/** Template mode's requests, made again, where `submit` would put them for this store. */
async function buildInput(
  store: ArtifactStore,
  runId: string,
  { source, options }: NonNullable<ScheduledRunSpec['template']>,
): Promise<string> {
  // The local store's workers share its folder; the S3 store's get the file by upload.
  const home = store instanceof LocalArtifactStore ? store.root : tmpdir();
  const path = await inputPathFor(home, runId);
  try {
    await writeTemplateRequests(source, options, path, { store, runId });
  } catch (err) {
    if (err instanceof TemplateInputError) {
      const lines = err.problems.map((p) => formatValidationError(err.file, p));
      throw failures.InvalidInput([err.message, ...lines].join('\n'));
    }
    throw err;
  }
  return path;
}
