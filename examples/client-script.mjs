// The client library from a script: start a run from requests built in memory, follow it, read
// its results. Needs a Temporal with a Nightshift worker (`npx nightshift dev` is one) and
// `npm run build`; settings come from the same environment variables as the CLI.
//
//   node examples/client-script.mjs
import { Nightshift } from 'nightshift';

const reviews = [
  'Arrived early and works perfectly.',
  'Broke after two days; support never answered.',
  'Does the job, nothing special.',
];

const requests = reviews.map((review, i) => ({
  custom_id: `review-${i + 1}`,
  method: 'POST',
  url: '/v1/chat/completions',
  body: {
    model: 'gpt-4o-mini',
    messages: [
      { role: 'system', content: 'Answer with one word: positive, negative or neutral.' },
      { role: 'user', content: review },
    ],
    max_tokens: 3,
  },
}));

const nightshift = await Nightshift.connect();
try {
  // Against OpenAI a batch takes minutes to hours: poll every 30 s. The emulator is quicker.
  const pollIntervalSeconds = Number(process.env.POLL_SECONDS ?? 30);
  const { run } = await nightshift.submitRequests(requests, { pollIntervalSeconds });
  console.log(`started ${run.id}`);

  const summary = await run.wait();
  console.log(`${summary.status}: ${summary.counts.succeeded}/${summary.counts.total} succeeded`);

  for await (const result of run.results()) {
    const answer = result.response?.body?.choices?.[0]?.message?.content;
    console.log(`${result.custom_id}\t${result.status}\t${answer ?? result.error?.message}`);
  }
} finally {
  await nightshift.close();
}
