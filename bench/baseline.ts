// The naive script, as the classic Batch API tutorial writes it. Deliberately not optimised:
// it is what Nightshift is measured against. Run as a child process by bench/run.ts:
//   node dist/bench/baseline.js <requests.jsonl> <out-dir> <poll-ms>
// with OPENAI_BASE_URL / OPENAI_API_KEY pointing at the emulator. Prints a JSON report.
import fs from 'node:fs';
import path from 'node:path';
import OpenAI from 'openai';

const [inputPath, outDir, pollArg] = process.argv.slice(2);
if (!inputPath || !outDir)
  throw new Error('usage: baseline.js <requests.jsonl> <out-dir> [poll-ms]');
const POLL_MS = Number(pollArg ?? 10_000);
const LINES_PER_FILE = 50_000;

const client = new OpenAI();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// The whole file at once. As one string it would pass V8's 512 MB limit at 1M requests, so the
// Buffer is cut into line strings by hand: every line still stays in memory.
const data = fs.readFileSync(inputPath);
const lines: string[] = [];
for (let from = 0; from < data.length; ) {
  const nl = data.indexOf(10, from);
  const end = nl === -1 ? data.length : nl;
  const line = data.toString('utf8', from, end);
  if (line.trim() !== '') lines.push(line);
  from = end + 1;
}
const ids = lines.map((line) => JSON.parse(line).custom_id as string);

fs.mkdirSync(outDir, { recursive: true });
const results: unknown[] = new Array(lines.length);
const index = new Map(ids.map((id, i) => [id, i]));
const batchIds: string[] = [];

for (let start = 0; start < lines.length; start += LINES_PER_FILE) {
  const partPath = path.join(outDir, `part-${start / LINES_PER_FILE + 1}.jsonl`);
  fs.writeFileSync(partPath, `${lines.slice(start, start + LINES_PER_FILE).join('\n')}\n`);

  const file = await client.files.create({ file: fs.createReadStream(partPath), purpose: 'batch' });
  let batch = await client.batches.create({
    input_file_id: file.id,
    endpoint: '/v1/chat/completions',
    completion_window: '24h',
  });
  batchIds.push(batch.id);
  while (!['completed', 'failed', 'expired', 'cancelled'].includes(batch.status)) {
    await sleep(POLL_MS);
    batch = await client.batches.retrieve(batch.id);
  }
  if (batch.status !== 'completed') throw new Error(`batch ${batch.id} ended ${batch.status}`);

  for (const fileId of [batch.output_file_id, batch.error_file_id]) {
    if (!fileId) continue;
    const res = await client.files.content(fileId);
    const text = await res.text();
    for (const line of text.split('\n')) {
      if (!line) continue;
      const item = JSON.parse(line);
      const ok = item.response?.status_code === 200;
      results[index.get(item.custom_id) as number] = {
        custom_id: item.custom_id,
        status: ok ? 'succeeded' : 'failed',
        response: item.response,
        error: item.error,
      };
    }
  }
}

fs.writeFileSync(
  path.join(outDir, 'results.jsonl'),
  `${results.map((r) => JSON.stringify(r)).join('\n')}\n`,
);
const usage = process.resourceUsage();
console.log(JSON.stringify({ batchIds, maxRssBytes: usage.maxRSS * 1024 }));
