import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Client } from '@temporalio/client';
import proto from '@temporalio/proto';
import { partWorkflowId } from '../../workflows/ids.js';

type History = proto.temporal.api.history.v1.History;
type IHistory = proto.temporal.api.history.v1.IHistory;
const { History } = proto.temporal.api.history.v1;

/**
 * Saved histories live with the sources (this file runs from dist/test/helpers), one folder per
 * Nightshift version that recorded them: runs started by any released version must still replay.
 */
export const HISTORIES_DIR = fileURLToPath(new URL('../../../test/histories/', import.meta.url));

/** The version recording now, from package.json. */
const { version: VERSION } = createRequire(import.meta.url)('../../../package.json') as {
  version: string;
};

// A history as JSON, the way @temporalio/common's historyToJSON/historyFromJSON convert it (and
// the Temporal CLI and UI export it). Those two cannot be called here: they hand the types of
// @temporalio/proto to the protobufjs copy npm nests under @temporalio/common (the top level
// holds @grpc/proto-loader's protobufjs 7), whose `instanceof Type` check then fails with "type
// must be a Type". The same conversions, made with the copy @temporalio/proto is built on:
const protojson = createRequire(createRequire(import.meta.url).resolve('@temporalio/proto'))(
  'protobufjs/ext/protojson',
) as {
  toJson(type: typeof History, message: History): unknown;
  fromJson(type: typeof History, json: unknown, options: { ignoreUnknownFields: boolean }): History;
};

export function historyToJSON(history: IHistory): string {
  return JSON.stringify(protojson.toJson(History, History.fromObject(history)), null, 2);
}

/** Unknown fields (from a newer server) are ignored, as historyFromJSON ignores them. */
export function historyFromJSON(json: unknown): History {
  return protojson.fromJson(History, json, { ignoreUnknownFields: true });
}

/** The run's workflow and its parts' that exist (found without a worker: no queries). */
export async function workflowsOfRun(client: Client, runId: string): Promise<string[]> {
  const ids = [runId];
  for (let part = 1; part <= 100; part++) {
    const id = partWorkflowId(runId, part);
    try {
      await client.workflow.getHandle(id).describe();
    } catch {
      break;
    }
    ids.push(id);
  }
  return ids;
}

/**
 * With NIGHTSHIFT_RECORD_HISTORIES=1 (`npm run record-histories`), saves every workflow
 * execution of a run (the run and its parts) as test/histories/<version>/<name>/<workflow
 * id>.json, where
 * the replay test checks that workflow changes can still replay them. A run that continued an
 * earlier one as new is saved beside it as <workflow id>.<run id>.json. `also` names workflows
 * outside the run to save with it (a schedule's firing that started it).
 */
export async function recordHistories(
  client: Client,
  runId: string,
  name = runId,
  also: string[] = [],
): Promise<void> {
  if (process.env.NIGHTSHIFT_RECORD_HISTORIES !== '1') return;
  const dir = join(HISTORIES_DIR, VERSION, name);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const executions: { workflowId: string; runId?: string }[] = also.map((workflowId) => ({
    workflowId,
  }));
  for await (const wf of client.workflow.list({ query: `NightshiftRunId = '${runId}'` })) {
    executions.push({ workflowId: wf.workflowId, runId: wf.runId });
  }
  for (const wf of executions) {
    const history = await client.workflow.getHandle(wf.workflowId, wf.runId).fetchHistory();
    const started = history.events?.[0]?.workflowExecutionStartedEventAttributes;
    const file = started?.continuedExecutionRunId ? `${wf.workflowId}.${wf.runId}` : wf.workflowId;
    await writeFile(join(dir, `${file.replaceAll(':', '_')}.json`), `${historyToJSON(history)}\n`);
  }
}

/** The scenarios with saved histories, as `<version>/<scenario>`: the folders of each version. */
export async function savedScenarios(): Promise<string[]> {
  const scenarios: string[] = [];
  for (const version of await readdir(HISTORIES_DIR)) {
    const entries = await readdir(join(HISTORIES_DIR, version), { withFileTypes: true });
    for (const e of entries) if (e.isDirectory()) scenarios.push(`${version}/${e.name}`);
  }
  return scenarios.sort();
}

export interface SavedHistory {
  workflowId: string;
  history: History;
}

/** A scenario's saved executions, with the workflow id each was started with. */
export async function savedHistories(scenario: string): Promise<SavedHistory[]> {
  const dir = join(HISTORIES_DIR, scenario);
  const files = (await readdir(dir)).filter((f) => f.endsWith('.json')).sort();
  return Promise.all(
    files.map(async (file) => {
      const history = historyFromJSON(JSON.parse(await readFile(join(dir, file), 'utf8')));
      const workflowId = history.events[0]?.workflowExecutionStartedEventAttributes?.workflowId;
      if (!workflowId) throw new Error(`${scenario}/${file}: no workflow id in its first event`);
      return { workflowId, history };
    }),
  );
}

/** Activity attempts past the first across a run's workflows: how often Temporal retried. */
export async function activityRetries(client: Client, runId: string): Promise<number> {
  let retries = 0;
  for (const workflowId of await workflowsOfRun(client, runId)) {
    const history = await client.workflow.getHandle(workflowId).fetchHistory();
    for (const event of history.events ?? []) {
      const attempt = event.activityTaskStartedEventAttributes?.attempt ?? 1;
      if (attempt > 1) retries += attempt - 1;
    }
  }
  return retries;
}

/** Every history of a run (run and parts) as protobuf bytes, to search for leaked strings. */
export async function historyBytes(client: Client, runId: string): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for (const workflowId of await workflowsOfRun(client, runId)) {
    const history = await client.workflow.getHandle(workflowId).fetchHistory();
    out.push(Buffer.from(History.encode(history).finish()));
  }
  return out;
}
