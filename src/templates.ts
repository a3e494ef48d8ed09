import { createReadStream } from 'node:fs';
import { extname } from 'node:path';
import { CsvError, parse } from 'csv-parse';
import { type ArtifactStore, artifactNames } from './artifacts.js';
import { scanJsonlLines, writeLines } from './jsonl.js';
import type { ValidationError } from './requests.js';

/** How template mode turns records or prompts into chat-completion requests. */
export interface TemplateOptions {
  model: string;
  system?: string;
  maxTokens?: number;
  /** Record field holding each request's custom_id; default `row-<n>` (n counts records from 1). */
  idField?: string;
}

/** A prompts file (one prompt per line) or records (JSONL or CSV) rendered through a template. */
export type TemplateSource =
  | { kind: 'prompts'; path: string }
  | { kind: 'records'; path: string; template: string };

/** A request of template mode and the record it was made from. */
interface TemplateRequest {
  id: string;
  /** The request line. */
  line: string;
  fields: Record<string, unknown>;
}

/** One line of `records.jsonl`: the custom_id lets a reader check it is zipping the right rows. */
export interface StoredRecord {
  custom_id: string;
  record: Record<string, unknown>;
}

/** `records.json`, written once `records.jsonl` is whole. */
export interface RecordsManifest {
  /** The records file given to submit. */
  source: string;
  /** Every field of the records, in order of first appearance (a CSV's header order). */
  columns: string[];
  count: number;
}

/** Bad records, reported against the source file the way request files are. */
export class TemplateInputError extends Error {
  constructor(
    readonly file: string,
    readonly problems: ValidationError[],
    readonly problemCount: number,
  ) {
    super(`${file}: ${problemCount} bad record(s)`);
    this.name = 'TemplateInputError';
  }
}

interface SourceRecord {
  /** Line of the source file where the record is (where it ends, for multi-line CSV). */
  line: number;
  fields: Record<string, unknown> | null;
  /** Why the record could not be read, when `fields` is null. */
  problem?: string;
}

const PLACEHOLDER = /\{\{\s*([^{}\s]+)\s*\}\}/g;

/** The fields a template refers to, in order of first use. */
export function templateFields(template: string): string[] {
  return [...new Set([...template.matchAll(PLACEHOLDER)].map((m) => m[1] as string))];
}

/** Replaces each `{{field}}`; throws naming the first field the record lacks. */
export function renderTemplate(template: string, fields: Record<string, unknown>): string {
  return template.replace(PLACEHOLDER, (_, name: string) => {
    const value = fields[name];
    if (value === undefined) throw new Error(`no field "${name}" in this record`);
    if (value === null) return '';
    return typeof value === 'object' ? JSON.stringify(value) : String(value);
  });
}

export function chatRequest(id: string, prompt: string, options: TemplateOptions): object {
  const messages = options.system
    ? [
        { role: 'system', content: options.system },
        { role: 'user', content: prompt },
      ]
    : [{ role: 'user', content: prompt }];
  return {
    custom_id: id,
    method: 'POST',
    url: '/v1/chat/completions',
    body: {
      model: options.model,
      messages,
      ...(options.maxTokens !== undefined ? { max_tokens: options.maxTokens } : {}),
    },
  };
}

async function* readPrompts(path: string): AsyncGenerator<SourceRecord> {
  for await (const line of scanJsonlLines(path)) {
    if (line.text === null) yield { line: line.lineNo, fields: null, problem: line.problem };
    // Blank lines separate prompts for readability; they are not prompts.
    else if (line.text.trim() !== '') yield { line: line.lineNo, fields: { prompt: line.text } };
  }
}

async function* readJsonlRecords(path: string): AsyncGenerator<SourceRecord> {
  for await (const line of scanJsonlLines(path)) {
    if (line.text === null) {
      yield { line: line.lineNo, fields: null, problem: line.problem };
      continue;
    }
    if (line.text.trim() === '') continue;
    try {
      const value: unknown = JSON.parse(line.text);
      if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
        yield { line: line.lineNo, fields: value as Record<string, unknown> };
      } else {
        yield { line: line.lineNo, fields: null, problem: 'expected a JSON object' };
      }
    } catch (err) {
      yield { line: line.lineNo, fields: null, problem: `invalid JSON: ${(err as Error).message}` };
    }
  }
}

async function* readCsvRecords(path: string): AsyncGenerator<SourceRecord> {
  const parser = createReadStream(path).pipe(
    parse({ columns: true, bom: true, info: true, skip_empty_lines: true }),
  );
  try {
    for await (const { record, info } of parser as AsyncIterable<{
      record: Record<string, string>;
      info: { lines: number };
    }>) {
      yield { line: info.lines, fields: record };
    }
  } catch (err) {
    // A malformed CSV cannot be read past the error: report it and stop.
    if (!(err instanceof CsvError)) throw err;
    const line = (err as CsvError & { lines?: number }).lines ?? 0;
    yield { line, fields: null, problem: err.message.replace(/^Invalid [^:]*: /, '') };
  }
}

function readSource(source: TemplateSource): AsyncGenerator<SourceRecord> {
  if (source.kind === 'prompts') return readPrompts(source.path);
  return extname(source.path).toLowerCase() === '.csv'
    ? readCsvRecords(source.path)
    : readJsonlRecords(source.path);
}

/**
 * Streams the request lines a source makes. Every bad record is counted and the first
 * `maxErrors` kept; the generator throws a {@link TemplateInputError} at the end if any.
 */
async function* templateRequests(
  source: TemplateSource,
  options: TemplateOptions,
  maxErrors = 20,
): AsyncGenerator<TemplateRequest> {
  const template = source.kind === 'prompts' ? '{{prompt}}' : source.template;
  const problems: ValidationError[] = [];
  let problemCount = 0;
  const reject = (line: number, message: string) => {
    problemCount += 1;
    if (problems.length < maxErrors) problems.push({ line, message });
  };
  const ids = new Set<string>();
  let n = 0;
  for await (const record of readSource(source)) {
    n += 1;
    if (!record.fields) {
      reject(record.line, record.problem ?? 'unreadable record');
      continue;
    }
    const id = recordId(record.fields, options.idField, n);
    if (id === null) {
      reject(record.line, `no usable "${options.idField}" (the --id-field) in this record`);
      continue;
    }
    if (ids.has(id)) {
      reject(record.line, `duplicate id "${id}"`);
      continue;
    }
    ids.add(id);
    try {
      const line = JSON.stringify(
        chatRequest(id, renderTemplate(template, record.fields), options),
      );
      yield { id, line, fields: record.fields };
    } catch (err) {
      reject(record.line, (err as Error).message);
    }
  }
  if (n === 0) reject(0, source.kind === 'prompts' ? 'no prompts' : 'no records');
  if (problemCount > 0) throw new TemplateInputError(source.path, problems, problemCount);
}

function recordId(
  fields: Record<string, unknown>,
  idField: string | undefined,
  n: number,
): string | null {
  if (!idField) return `row-${n}`;
  const value = fields[idField];
  if (typeof value === 'number') return String(value);
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : null;
}

/** Where template mode keeps the records of a run: its folder of the store. */
export interface RecordsTarget {
  store: ArtifactStore;
  runId: string;
}

/**
 * Writes the requests a source makes to `path`, atomically: nothing is left if a record is bad.
 * With `keep`, records mode also writes the records into the run's folder of the store, in the
 * same pass: the requests carry only the rendered prompt, and exports put the records' own
 * columns beside the results.
 */
export async function writeTemplateRequests(
  source: TemplateSource,
  options: TemplateOptions,
  path: string,
  keep?: RecordsTarget,
): Promise<number> {
  const records =
    keep && source.kind === 'records'
      ? await keep.store.writer(keep.runId, artifactNames.records)
      : null;
  const columns = new Set<string>();
  async function* lines(): AsyncGenerator<string> {
    for await (const { id, line, fields } of templateRequests(source, options)) {
      if (records) {
        for (const name of Object.keys(fields)) columns.add(name);
        await records.write(
          JSON.stringify({ custom_id: id, record: fields } satisfies StoredRecord),
        );
      }
      yield line;
    }
  }
  let written: number;
  try {
    written = (await writeLines(path, lines())).lines;
  } catch (err) {
    await records?.abort();
    throw err;
  }
  if (keep && records) {
    await records.commit();
    const manifest: RecordsManifest = {
      source: source.path,
      columns: [...columns],
      count: written,
    };
    await keep.store.writeJson(keep.runId, artifactNames.recordsManifest, manifest);
  }
  return written;
}
