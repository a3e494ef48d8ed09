// The work of `nightshift schedule …`: Temporal Schedules whose action is scheduledRunWorkflow.
import {
  type Client,
  ScheduleAlreadyRunning,
  ScheduleNotFoundError,
  ScheduleOverlapPolicy,
} from '@temporalio/client';
import { DEFAULT_PROVIDER } from '../../workflows/provider-names.js';
import { scheduledRunId } from '../../workflows/scheduled.js';
import type { ScheduledRunSpec } from '../../workflows/types.js';
import { isValidRunId } from '../artifacts.js';
import { PROVIDER_RULES } from '../providers/rules.js';
import { UsageError, withNightshift } from './common.js';
import type { OverlapPolicy, ScheduleFlags } from './schedule.js';
import { existingInput, readSchema, runOptions, templateSource } from './submit-action.js';

const OVERLAP: Record<OverlapPolicy, ScheduleOverlapPolicy> = {
  skip: ScheduleOverlapPolicy.SKIP,
  'buffer-one': ScheduleOverlapPolicy.BUFFER_ONE,
  'buffer-all': ScheduleOverlapPolicy.BUFFER_ALL,
  'cancel-other': ScheduleOverlapPolicy.CANCEL_OTHER,
  'terminate-other': ScheduleOverlapPolicy.TERMINATE_OTHER,
  'allow-all': ScheduleOverlapPolicy.ALLOW_ALL,
};

/** Kept with the schedule for `describe`: the server turns a cron expression into calendars. */
interface ScheduleMemo {
  cron: string;
  timezone: string;
  input: string;
}

/** What each firing runs, from the same options as `submit`'s. */
async function specOf(
  name: string,
  file: string | undefined,
  flags: ScheduleFlags,
): Promise<ScheduledRunSpec> {
  if (!isValidRunId(name)) {
    throw new UsageError(`schedule name: use letters, digits, '.', '_' and '-': ${name}`);
  }
  const source = templateSource(file, flags);
  const { id: _id, ...options } = runOptions(flags);
  if (flags.outputSchema) options.outputSchema = await readSchema(flags.outputSchema);
  // Paths the workers will read at every firing: absolute, and there now.
  if (!source) return { name, input: await existingInput(file as string), options };
  const option = source.kind === 'prompts' ? '--prompts ' : '--records ';
  return {
    name,
    template: {
      source: { ...source, path: await existingInput(source.path, option) },
      options: {
        model: flags.model ?? PROVIDER_RULES[options.provider ?? DEFAULT_PROVIDER].templateModel,
        system: flags.system,
        maxTokens: flags.maxTokens,
        idField: flags.idField,
      },
    },
    options,
  };
}

export async function createSchedule(
  name: string,
  file: string | undefined,
  flags: ScheduleFlags,
): Promise<void> {
  const spec = await specOf(name, file, flags);
  const timezone = flags.timezone ?? 'UTC';
  const memo: ScheduleMemo = {
    cron: flags.cron,
    timezone,
    input: spec.input ?? spec.template?.source.path ?? '',
  };
  await withNightshift(async ({ temporal, taskQueue }) => {
    try {
      await temporal.schedule.create({
        scheduleId: name,
        spec: { cronExpressions: [flags.cron], timezone },
        action: {
          type: 'startWorkflow',
          workflowType: 'scheduledRunWorkflow',
          workflowId: name,
          taskQueue,
          args: [spec],
        },
        policies: { overlap: OVERLAP[flags.overlap] },
        memo: { ...memo },
      });
    } catch (err) {
      if (err instanceof ScheduleAlreadyRunning) {
        throw new UsageError(`schedule ${name} already exists (delete it first)`);
      }
      // A cron expression or time zone that cannot be read (the client's or the server's word).
      if (/cron|time ?zone|invalid argument/i.test((err as Error).message)) {
        throw new UsageError(`--cron/--timezone: ${(err as Error).message}`);
      }
      throw err;
    }
    const { info } = await temporal.schedule.getHandle(name).describe();
    console.log(name);
    console.error(
      `created schedule ${name}: "${flags.cron}" (${timezone}), next run ${next(info.nextActionTimes)}`,
    );
  });
}

const next = (times: Date[]) => times[0]?.toISOString() ?? 'never';

export async function listSchedules(): Promise<void> {
  await withNightshift(async ({ temporal }) => {
    let any = false;
    for await (const schedule of temporal.schedule.list()) {
      if (schedule.action?.workflowType !== 'scheduledRunWorkflow') continue;
      any = true;
      const memo = schedule.memo as Partial<ScheduleMemo> | undefined;
      console.log(
        `${schedule.scheduleId}  ${schedule.state.paused ? 'paused' : 'active'}  ` +
          `"${memo?.cron ?? '?'}" ${memo?.timezone ?? ''}  next ${next(schedule.info.nextActionTimes)}`,
      );
    }
    if (!any) console.error('no schedules');
  });
}

export async function describeSchedule(name: string): Promise<void> {
  await onSchedule(name, async (temporal) => {
    const schedule = await temporal.schedule.getHandle(name).describe();
    const memo = schedule.memo as Partial<ScheduleMemo> | undefined;
    const { info, state } = schedule;
    const lines = [
      `Schedule ${name}: ${state.paused ? `paused${state.note ? ` (${state.note})` : ''}` : 'active'}`,
      `  cron       "${memo?.cron ?? '?'}" (${memo?.timezone ?? '?'})`,
      `  input      ${memo?.input ?? '?'}`,
      `  overlap    ${(schedule.policies.overlap ?? 'SKIP').toLowerCase().replace('_', '-')}`,
      `  next       ${info.nextActionTimes.map((t) => t.toISOString()).join(', ') || 'never'}`,
      `  fired      ${info.numActionsTaken}, skipped as overlapping ${info.numActionsSkippedOverlap}`,
    ];
    for (const action of info.recentActions) {
      const runId = scheduledRunId(action.action.workflow.workflowId);
      const status = await temporal.workflow
        .getHandle(runId)
        .describe()
        .then((d) => d.status.name.toLowerCase())
        .catch(() => 'starting');
      lines.push(`  run        ${runId}  ${action.takenAt.toISOString()}  ${status}`);
    }
    console.log(lines.join('\n'));
  });
}

export const pauseSchedule = (name: string) =>
  onSchedule(name, (t) =>
    t.schedule.getHandle(name).pause('paused with nightshift schedule pause'),
  );
export const unpauseSchedule = (name: string) =>
  onSchedule(name, (t) => t.schedule.getHandle(name).unpause());
/** Fires now, under the schedule's own overlap policy (a trigger's default is to allow all). */
export const triggerSchedule = (name: string) =>
  onSchedule(name, async (t) => {
    const handle = t.schedule.getHandle(name);
    await handle.trigger((await handle.describe()).policies.overlap);
  });
export const deleteSchedule = (name: string) =>
  onSchedule(name, (t) => t.schedule.getHandle(name).delete());

/** Runs `fn` on a schedule that must exist: an unknown name is a usage error. */
async function onSchedule(name: string, fn: (temporal: Client) => Promise<void>): Promise<void> {
  await withNightshift(async ({ temporal }) => {
    try {
      await fn(temporal);
    } catch (err) {
      if (err instanceof ScheduleNotFoundError) throw new UsageError(`no schedule ${name}`);
      throw err;
    }
  });
}
