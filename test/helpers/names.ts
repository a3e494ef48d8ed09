import type { ArtifactName } from '../../workflows/types.js';

/** An artifact name written out in a test (the product makes them only in `artifactNames`). */
export const artifact = (name: string) => name as ArtifactName;

/** The run ids a store holds, sorted (Array.fromAsync is Node 22's). */
export async function runsIn(store: { runs(): AsyncIterable<string> }): Promise<string[]> {
  const runs: string[] = [];
  for await (const runId of store.runs()) runs.push(runId);
  return runs.sort();
}
