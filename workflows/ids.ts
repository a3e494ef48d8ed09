/** The workflow id of a run's part: derived, so a client can find and query it. */
export function partWorkflowId(runId: string, part: number): string {
  return `${runId}-part-${part}`;
}

/** The run and part a part's workflow id names (the inverse of `partWorkflowId`), else null. */
export function partOfWorkflowId(workflowId: string): { runId: string; part: number } | null {
  const match = /^(.+)-part-(\d+)$/.exec(workflowId);
  return match?.[1] ? { runId: match[1], part: Number(match[2]) } : null;
}

/** The workflow id of a group of a run's parts (see workflows/group.ts): `<run>-group-2-1`. */
export function groupWorkflowId(runId: string, path: number[]): string {
  return `${runId}-group-${path.join('-')}`;
}
