import { customIdOf, ID_PREFIX } from '../src/requests.js';
import { REQUEST_STATUSES, type RequestStatus } from '../workflows/contract.js';
import type { ResultLine } from '../workflows/types.js';

const STATUS_KEY = '","status":"';

/**
 * custom_id and status of a result line. Classify writes them first, so they are sliced from the
 * start of the line instead of parsing the ~1 KB response; anything else takes JSON.parse.
 */
export function resultHead(text: string): { custom_id: string; status: RequestStatus } {
  const custom_id = customIdOf(text);
  // Right after the id's closing quote only when the id needed no escapes.
  const at = ID_PREFIX.length + custom_id.length;
  if (text.startsWith(ID_PREFIX) && text.startsWith(STATUS_KEY, at)) {
    const from = at + STATUS_KEY.length;
    const status = text.slice(from, text.indexOf('"', from));
    if (isStatus(status)) return { custom_id, status };
  }
  const line = JSON.parse(text) as ResultLine;
  return { custom_id: line.custom_id, status: line.status };
}

const STATUSES: ReadonlySet<string> = new Set(REQUEST_STATUSES);

function isStatus(value: string): value is RequestStatus {
  return STATUSES.has(value);
}
