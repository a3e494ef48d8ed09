// `nightshift schedule …` as --help shows it; schedule-action.ts, loaded when one runs, does the work.
import { type Command, Option } from 'commander';
import { examples } from './common.js';
import { addRunOptions, addTemplateOptions, type SubmitFlags } from './submit.js';

export const OVERLAP_POLICIES = [
  'skip',
  'buffer-one',
  'buffer-all',
  'cancel-other',
  'terminate-other',
  'allow-all',
] as const;
export type OverlapPolicy = (typeof OVERLAP_POLICIES)[number];

export interface ScheduleFlags extends SubmitFlags {
  cron: string;
  timezone?: string;
  overlap: OverlapPolicy;
}

type Action = typeof import('./schedule-action.js');

/** Runs one of schedule-action.ts's functions, loaded on use. */
function run<K extends keyof Action>(name: K) {
  return async (...args: Parameters<Action[K]>) => {
    const action = (await import('./schedule-action.js'))[name] as (
      ...a: Parameters<Action[K]>
    ) => Promise<void>;
    await action(...args);
  };
}

/** The commands on one schedule, by name: what each does, and its action. */
const ON_ONE_SCHEDULE = [
  ['describe', 'a schedule: its cron, state, next firings and recent runs', 'describeSchedule'],
  ['pause', 'stop firing until unpaused', 'pauseSchedule'],
  ['unpause', 'fire again', 'unpauseSchedule'],
  ['trigger', 'fire now (the overlap policy still applies)', 'triggerSchedule'],
  ['delete', 'remove the schedule (its runs stay)', 'deleteSchedule'],
] as const;

export function registerSchedule(program: Command): void {
  const schedule = program
    .command('schedule')
    .description('runs started on a cron schedule by Temporal, each reading its input afresh');
  const create = schedule
    .command('create')
    .description(
      'create a Temporal Schedule whose every firing starts a run named <name>-<fire time>',
    )
    .argument('<name>', 'the schedule (letters, digits, ., _, -)')
    .argument('[file]', 'requests JSONL: an absolute path every worker reads, or s3://bucket/key')
    .requiredOption('--cron <expression>', 'when it fires, e.g. "0 2 * * *" (02:00 every day)')
    .option('--timezone <zone>', 'the cron expression’s time zone, e.g. Europe/Paris', 'UTC')
    .addOption(
      new Option('--overlap <policy>', 'a firing while the previous run still runs')
        .choices(OVERLAP_POLICIES)
        .default('skip'),
    );
  addTemplateOptions(addRunOptions(create))
    .addHelpText(
      'after',
      `
The input is read when each run starts, not now: a requests file, or template mode's prompts
or records, must be where the workers read it (a path on the disk they share with the local
store, or an s3:// object with the S3 store). It is validated at every firing; a firing whose
input is bad fails, naming the lines, and the next one tries again.
${examples(
  'nightshift schedule create nightly --cron "0 2 * * *" --timezone Europe/Paris /data/requests.jsonl',
  'nightshift schedule create reviews --cron "30 6 * * 1-5" --records /data/reviews.csv \\\n' +
    '      --id-field id --template "Sentiment: {{review}}"',
)}`,
    )
    .action(run('createSchedule'));
  schedule
    .command('list')
    .description('the schedules, paused or not, with their next firing')
    .action(run('listSchedules'));
  for (const [command, description, action] of ON_ONE_SCHEDULE) {
    schedule.command(command).description(description).argument('<name>').action(run(action));
  }
}
