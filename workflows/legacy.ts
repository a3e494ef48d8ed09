// Runs started by Nightshift 0.1 hold older shapes in their histories: prepare's parts, a part's
// input and outcome, download's and classify's results, the state a waiting part carried across
// continue-as-new. They are renamed
// on read, so such runs finish after an upgrade and their saved histories keep replaying
// (test/replay.test.ts).

import type { DownloadResult } from '../activities/transfers.js';
import type { BatchState } from './batch.js';
import type { ArtifactName, ClassifyResult, PartOutcome, PartRef, RunInput } from './types.js';

interface PartRefV01 {
  part: number;
  path: string;
  requests: number;
  bytes: number;
}

type PartOutcomeV01 = Omit<PartOutcome, 'results'> & { resultsPaths: string[] };

type BatchStateV01 = Omit<BatchState, 'requests' | 'outcome'> & {
  inputPath: string;
  outcome: PartOutcome | PartOutcomeV01;
};

export function partRefOf(ref: PartRef | PartRefV01): PartRef {
  if ('index' in ref) return ref;
  const { part, path, requests, bytes } = ref;
  return { index: part, artifact: path as ArtifactName, requests, bytes };
}

export function partOutcomeOf(outcome: PartOutcome | PartOutcomeV01): PartOutcome {
  if (!('resultsPaths' in outcome)) return outcome;
  const { resultsPaths, ...rest } = outcome;
  return { ...rest, results: resultsPaths as ArtifactName[] };
}

export function batchStateOf(state: BatchState | BatchStateV01): BatchState {
  if (!('inputPath' in state)) return state;
  const { inputPath, outcome, ...rest } = state;
  return { ...rest, requests: inputPath as ArtifactName, outcome: partOutcomeOf(outcome) };
}

export function runInputOf(
  input: RunInput | (Omit<RunInput, 'inputFile'> & { inputPath: string }),
) {
  if (!('inputPath' in input)) return input;
  const { inputPath, ...rest } = input;
  return { ...rest, inputFile: inputPath };
}

type DownloadResultV01 = { outputPath: string | null; errorPath: string | null };

export function downloadResultOf(result: DownloadResult | DownloadResultV01): DownloadResult {
  if (!('outputPath' in result)) return result;
  return { output: result.outputPath as ArtifactName, errors: result.errorPath as ArtifactName };
}

type ClassifyResultV01 = Omit<ClassifyResult, 'results' | 'retryRequests'> & {
  resultsPath: string;
  retryPath: string | null;
};

export function classifyResultOf(result: ClassifyResult | ClassifyResultV01): ClassifyResult {
  if (!('resultsPath' in result)) return result;
  const { resultsPath, retryPath, ...rest } = result;
  return {
    ...rest,
    results: resultsPath as ArtifactName,
    retryRequests: retryPath as ArtifactName | null,
  };
}
