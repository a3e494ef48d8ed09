import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

// Registered on the dev server (and on production namespaces) so runs can be found in the UI,
// e.g. `NightshiftStatus = "running" AND NightshiftModel = "gpt-4o-mini"`.
export const NightshiftStatus = defineSearchAttributeKey(
  'NightshiftStatus',
  SearchAttributeType.KEYWORD,
);
export const NightshiftRunId = defineSearchAttributeKey(
  'NightshiftRunId',
  SearchAttributeType.KEYWORD,
);
export const NightshiftEndpoint = defineSearchAttributeKey(
  'NightshiftEndpoint',
  SearchAttributeType.KEYWORD,
);
export const NightshiftModel = defineSearchAttributeKey(
  'NightshiftModel',
  SearchAttributeType.KEYWORD,
);
export const NightshiftBatchIds = defineSearchAttributeKey(
  'NightshiftBatchIds',
  SearchAttributeType.KEYWORD_LIST,
);

export const SEARCH_ATTRIBUTES = [
  NightshiftStatus,
  NightshiftRunId,
  NightshiftEndpoint,
  NightshiftModel,
  NightshiftBatchIds,
];
