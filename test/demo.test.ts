import assert from 'node:assert/strict';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { runCli } from './helpers/cli.js';

// The README's first command, on each provider's emulated API: the whole tour, end to end.

for (const provider of ['openai', 'anthropic', 'gemini'] as const) {
  test(`\`nightshift demo --provider ${provider}\` runs the bundled job to completion`, async () => {
    const home = await mkdtemp(join(tmpdir(), `nightshift-demo-${provider}-`));
    const { code, stdout, stderr } = await runCli(['demo', '--provider', provider], {
      NIGHTSHIFT_HOME: home,
    });
    assert.equal(code, 0, stderr);
    assert.match(
      stdout,
      new RegExp(`Built 300 sentiment-classification requests \\(${provider}, `),
    );
    assert.match(stdout, /requests {3}300 total: 300 succeeded, 0 failed/);
    const results = /^Results {6}(\S+)$/m.exec(stdout)?.[1];
    assert.ok(results, stdout);
    const lines = (await readFile(results, 'utf8')).trim().split('\n');
    assert.equal(lines.length, 300);
    const first = JSON.parse(lines[0] ?? '{}') as { custom_id: string; output_text?: string };
    assert.equal(first.custom_id, 'review-001');
    assert.equal(typeof first.output_text, 'string');
  });
}
