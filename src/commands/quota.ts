// `nightshift quota set|show`: the enqueued-token ledgers that runs of one provider, account and
// model queue in (workflows/ledger.ts).
import { type Command, Option } from 'commander';
import { PROVIDER_NAMES, type ProviderName } from '../../workflows/provider-names.js';
import { loadConfig } from '../config.js';
import { examples, positiveInt, UsageError, withNightshift } from './common.js';

interface SetFlags {
  provider: ProviderName;
  model: string;
  enqueuedTokens?: number;
  unlimited?: boolean;
  account?: string;
}

export function registerQuota(program: Command): void {
  const quota = program
    .command('quota')
    .description(
      "shared enqueued-token limits: runs' batches of one provider, account and model queue for them instead of failing with token_limit_exceeded",
    );
  quota
    .command('set')
    .description('set the limit of enqueued input tokens of a model (starts its ledger)')
    .addOption(
      new Option('--provider <name>', 'the batch API')
        .choices(PROVIDER_NAMES)
        .makeOptionMandatory(),
    )
    .requiredOption('--model <model>', 'the model, as the requests name it')
    .option('--enqueued-tokens <n>', "the provider's limit of enqueued input tokens", positiveInt)
    .option('--unlimited', 'no limit: batches are created as soon as they are uploaded')
    .option('--account <name>', 'whose limit (default: NIGHTSHIFT_QUOTA_ACCOUNT, else default)')
    .addHelpText(
      'after',
      examples(
        'nightshift quota set --provider openai --model gpt-4o-mini --enqueued-tokens 2000000',
      ),
    )
    .action(async (flags: SetFlags) => {
      if ((flags.enqueuedTokens === undefined) === !flags.unlimited) {
        throw new UsageError('give one of --enqueued-tokens <n> and --unlimited');
      }
      const { setQuota } = await import('../quota.js');
      const account = flags.account ?? loadConfig().quotaAccount;
      const key = { provider: flags.provider, account, model: flags.model };
      await withNightshift(async (nightshift) => {
        const state = await setQuota(
          nightshift.temporal,
          nightshift.taskQueue,
          key,
          flags.enqueuedTokens ?? null,
        );
        const { formatLedger } = await import('./quota-display.js');
        console.log(formatLedger(state));
      });
    });
  quota
    .command('show')
    .description(
      'every ledger: its limit, the tokens reserved, the parts waiting, the latest grants',
    )
    .option('--json', 'as JSON')
    .action(async (flags: { json?: boolean }) => {
      const [{ ledgers }, { formatLedger }] = await Promise.all([
        import('../quota.js'),
        import('./quota-display.js'),
      ]);
      await withNightshift(async (nightshift) => {
        const states = await ledgers(nightshift.temporal);
        if (flags.json) console.log(JSON.stringify(states, null, 2));
        else if (states.length === 0) console.log('no quota set: every batch is created at once');
        else console.log(states.map(formatLedger).join('\n\n'));
      });
    });
}
