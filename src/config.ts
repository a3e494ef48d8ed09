import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

/** Task queue of runs and workers unless NIGHTSHIFT_TASK_QUEUE says otherwise. */
export const DEFAULT_TASK_QUEUE = 'nightshift';

/** Where Nightshift keeps artifacts and local state: `NIGHTSHIFT_HOME`, else `~/.nightshift`. */
export function nightshiftHome(env: NodeJS.ProcessEnv = process.env): string {
  const configured = env.NIGHTSHIFT_HOME?.trim();
  return configured ? resolve(configured) : join(homedir(), '.nightshift');
}
