import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { createActivities } from '../activities/index.js';
import { artifactNames } from '../src/artifacts.js';
import { createProviders } from '../src/providers/registry.js';
import { LocalArtifactStore } from '../src/store/local.js';

// An artifact an earlier step wrote, missing now, stays missing on every retry with the same
// input: the activity fails for good instead of being retried forever.

test('an activity whose artifact is missing fails for good, naming the file', async () => {
  const store = new LocalArtifactStore(await mkdtemp(join(tmpdir(), 'nightshift-missing-')));
  const providers = await createProviders({
    openai: { apiKey: 'unused', baseURL: 'http://127.0.0.1:9/v1' },
  });
  const { upload } = createActivities({ providers, store });
  const failure = await upload({
    runId: 'run-1',
    part: 1,
    attempt: 1,
    provider: 'openai',
    requests: artifactNames.part(1),
  }).then(
    () => assert.fail('the upload must fail'),
    (err: unknown) => err,
  );
  assert.ok(failure instanceof ApplicationFailure, String(failure));
  assert.equal(failure.type, 'ArtifactMissing');
  assert.equal(failure.nonRetryable, true);
  assert.match(failure.message, /^upload: .*run-1.*parts\/part-0001\.jsonl does not exist/);
});
