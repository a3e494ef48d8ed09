import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Runs `fn` with os.tmpdir() answering a fresh folder, which is returned with the result: a
 * test sees what `fn` left in the process's temp dir, and nobody else's files.
 */
export async function withFreshTmpdir<T>(
  fn: () => Promise<T>,
): Promise<{ tmp: string; result: T }> {
  const tmp = await mkdtemp(join(tmpdir(), 'nightshift-tmp-'));
  const before = process.env.TMPDIR;
  process.env.TMPDIR = tmp;
  try {
    return { tmp, result: await fn() };
  } finally {
    if (before === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = before;
  }
}
