import assert from 'node:assert/strict';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { validateRequestsFile } from '../src/requests.js';
import {
  renderTemplate,
  TemplateInputError,
  type TemplateOptions,
  type TemplateSource,
  templateFields,
  writeTemplateRequests,
} from '../src/templates.js';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'nightshift-templates-'));
});

const OPTIONS: TemplateOptions = { model: 'gpt-4o-mini', maxTokens: 5 };

async function build(name: string, content: string, source: Partial<TemplateSource> = {}) {
  const path = join(dir, name);
  await writeFile(path, content);
  const out = join(dir, `${name}.requests.jsonl`);
  const kind = source.kind ?? 'records';
  const full = { kind, path, template: 'T {{text}}', ...source } as TemplateSource;
  return { out, path, run: (options = OPTIONS) => writeTemplateRequests(full, options, out) };
}

async function requests(path: string) {
  return (await readFile(path, 'utf8'))
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l));
}

test('renderTemplate substitutes fields, tolerates spaces, and names a missing field', () => {
  const fields = { a: 'x', n: 3, o: { k: 1 }, z: null };
  assert.equal(renderTemplate('{{a}}-{{ n }}-{{o}}-{{z}}', fields), 'x-3-{"k":1}-');
  assert.throws(() => renderTemplate('{{a}} {{b}}', fields), /no field "b"/);
  assert.deepEqual(templateFields('{{a}} {{ b }} {{a}}'), ['a', 'b']);
});

test('prompts: one request per non-blank line, ids row-<n>, system and max_tokens', async () => {
  const { out, run } = await build('prompts.txt', 'first\n\nsecond\n', { kind: 'prompts' });
  assert.equal(await run({ ...OPTIONS, system: 'Be brief.' }), 2);
  const [first, second] = await requests(out);
  assert.deepEqual(first, {
    custom_id: 'row-1',
    method: 'POST',
    url: '/v1/chat/completions',
    body: {
      model: 'gpt-4o-mini',
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'first' },
      ],
      max_tokens: 5,
    },
  });
  assert.equal(second.custom_id, 'row-2');
  assert.equal(second.body.messages[1].content, 'second');
  assert.ok((await validateRequestsFile(out)).ok, 'what template mode builds is valid input');
});

test('CSV records: header fields, quoted commas and newlines, ids from --id-field', async () => {
  const csv = 'id,text\nk1,"one, two"\nk2,"multi\nline"\n';
  const { out, run } = await build('records.csv', csv);
  assert.equal(await run({ ...OPTIONS, idField: 'id' }), 2);
  const built = await requests(out);
  assert.deepEqual(
    built.map((r) => [r.custom_id, r.body.messages[0].content]),
    [
      ['k1', 'T one, two'],
      ['k2', 'T multi\nline'],
    ],
  );
});

test('bad records are reported by source line and nothing is written', async () => {
  const jsonl =
    '{"text":"a","id":"x"}\n{"nope":1,"id":"y"}\n[1]\n{"text":"b","id":"x"}\n{"text":"c"}\n';
  const { out, path, run } = await build('records.jsonl', jsonl);
  const err = await run({ ...OPTIONS, idField: 'id' }).catch((e: unknown) => e);
  assert.ok(err instanceof TemplateInputError);
  assert.equal(err.file, path);
  assert.deepEqual(err.problems, [
    { line: 2, message: 'no field "text" in this record' },
    { line: 3, message: 'expected a JSON object' },
    { line: 4, message: 'duplicate id "x"' },
    { line: 5, message: 'no usable "id" (the --id-field) in this record' },
  ]);
  await assert.rejects(readFile(out), /ENOENT/);

  const ragged = await build('ragged.csv', 'id,text\na,b\nc,d,e\n');
  const csvErr = await ragged.run().catch((e: unknown) => e);
  assert.ok(csvErr instanceof TemplateInputError);
  assert.equal(csvErr.problems[0]?.line, 3);

  const empty = await build('empty.txt', '\n', { kind: 'prompts' });
  await assert.rejects(empty.run(), (e: unknown) => {
    assert.ok(e instanceof TemplateInputError);
    assert.equal(e.problems[0]?.message, 'no prompts');
    return true;
  });
});
