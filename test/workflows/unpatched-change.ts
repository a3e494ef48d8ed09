// Today's workflow code with one change that replay must catch: the part workflow now sleeps
// before its first step, a timer that no saved history has in that place, and the change is not
// behind `patched()`. test/replay.test.ts replays saved histories against a bundle of this file
// to show that the determinism guard bites (as sdk-typescript's test-replay.ts does).
import { sleep } from '@temporalio/workflow';
import { batchWorkflow as unchanged } from '../../workflows/batch.js';

export { runWorkflow } from '../../workflows/run.js';

export async function batchWorkflow(
  ...args: Parameters<typeof unchanged>
): ReturnType<typeof unchanged> {
  await sleep('1 second');
  return unchanged(...args);
}
