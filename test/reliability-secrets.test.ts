import assert from 'node:assert/strict';
import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCli } from './helpers/cli.js';
import { historyBytes, recordHistories } from './helpers/histories.js';
import { filesUnder, randomKey, scenarios } from './helpers/reliability.js';
import { chatLines } from './helpers/requests.js';
import { useRig } from './helpers/rig.js';

// The OpenAI key must stay in the worker's memory: not in Temporal, logs, files or errors.

const scenario = scenarios('secrets and artifact safety');

const KEY = randomKey();
const rig = useRig('reliability-secrets', {
  worker: 'process',
  workerSettings: { apiKey: KEY, args: ['--json-logs'], env: { NIGHTSHIFT_DEBUG: '1' } },
});

const cliEnv = () => ({
  ...rig.cliEnv(),
  // As a user's shell would have it: the client must not pass it on either.
  OPENAI_API_KEY: KEY,
  NIGHTSHIFT_DEBUG: '1',
});
scenario(
  'the API key appears in no history, log, artifact or error message',
  'OPENAI_API_KEY=sk-<random>; 429/500/reset faults and per-line 400s so that errors are logged',
  async () => {
    rig.emulator.addFault({ endpoint: 'files.create', kind: 'http_429', times: 3 });
    rig.emulator.addFault({ endpoint: 'batches.retrieve', kind: 'http_500', times: 4 });
    rig.emulator.addFault({ endpoint: 'files.content', kind: 'reset', times: 1 });
    rig.emulator.addFault({ kind: 'line_error', statusCode: 400, lineRate: 0.2, times: 1 });
    const input = await rig.writeInput(chatLines(50), 'secrets.jsonl');
    const out = join(rig.home, 'out');
    const args = ['submit', input, '--id', 'secrets-1', '--poll-interval', '0.1', '--out', out];
    const cli = await runCli(args, cliEnv());
    assert.equal(cli.code, 1, `per-line 400s make the run partial:\n${cli.stderr}`);
    await recordHistories(rig.client, 'secrets-1');
    const fired = rig.emulator.stats().faults.reduce((n, f) => n + f.fired, 0);
    assert.ok(fired >= 8, `faults fired: ${fired}`);
    const errorsLogged = /429|500|ECONNRESET|socket|terminated/i.test(
      rig.workerProcess.stderr + rig.workerProcess.stdout,
    );

    const places: [string, Buffer | string][] = [
      ['worker output', rig.workerProcess.stdout + rig.workerProcess.stderr],
      ['CLI output', cli.stdout + cli.stderr],
      ...(await historyBytes(rig.client, 'secrets-1')).map(
        (bytes, i) => [`history ${i}`, bytes] as [string, Buffer],
      ),
    ];
    const files = await filesUnder(rig.home);
    for (const file of files.filter((f) => !f.isDirectory)) {
      places.push([file.path, await readFile(file.path)]);
    }
    for (const [where, content] of places) {
      assert.ok(!content.includes(KEY), `the API key leaked into ${where}`);
      // A prefix would leak most of a key as well (error messages sometimes cut keys short).
      assert.ok(!content.includes(KEY.slice(0, 20)), `a prefix of the API key is in ${where}`);
    }
    return {
      runs: 1,
      note:
        `${places.length} places scanned, ${fired} faults fired, ` +
        `provider errors ${errorsLogged ? '' : 'not '}in the worker's logs`,
    };
  },
);

scenario(
  'artifacts are readable by their owner only',
  'the files of a run with faults and retries (above)',
  async () => {
    const files = await filesUnder(join(rig.home, 'runs'));
    assert.ok(files.length > 5);
    const loose = files.filter((f) => f.mode !== (f.isDirectory ? 0o700 : 0o600));
    assert.deepEqual(
      loose.map((f) => `${f.path} ${f.mode.toString(8)}`),
      [],
      'dirs 0700, files 0600',
    );
    return { runs: 0, note: `${files.length} files and folders checked` };
  },
);

const BAD_IDS = ['../evil', 'a/b', '..', '/abs', 'a/../../b', '.hidden', 'x'.repeat(129), 'a\\b'];

scenario(
  'a run id cannot escape the artifact folder',
  `\`submit --id\` with ${BAD_IDS.map((id) => (id.length > 12 ? `${id.slice(0, 3)}…(${id.length})` : id)).join(', ')}`,
  async () => {
    const input = await rig.writeInput(chatLines(1), 'ids.jsonl');
    for (const id of BAD_IDS) {
      const cli = await runCli(['submit', input, '--id', id], cliEnv());
      assert.equal(cli.code, 2, `${id}: ${cli.stderr}`);
      assert.match(cli.stderr, /--id: use letters, digits/);
      assert.equal(cli.stdout, '');
    }
    await assert.rejects(access(join(rig.home, 'evil')));
    await assert.rejects(access(join(rig.home, 'runs', 'a')));
    return { runs: 0, note: `${BAD_IDS.length} ids refused with exit 2` };
  },
);
