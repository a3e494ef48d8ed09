/** The workflow id of a run's part: derived, so a client can find and query it. */
export function partWorkflowId(runId: string, part: number): string {
  return `${runId}-part-${part}`;
}
