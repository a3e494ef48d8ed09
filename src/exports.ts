// Exports of a finished run's results as a table: one row per input line, in input order, with
// the input record's columns first in records mode. Everything streams: rows are read from the
// store one at a time, and written out as they come (Parquet a row group at a time).

import { Buffer } from 'node:buffer';
import { rename, unlink } from 'node:fs/promises';
import type { SchemaElement } from 'hyparquet-writer';
import type { ResultLine, RunSummary } from '../workflows/types.js';
import { type ArtifactStore, artifactNames } from './artifacts.js';
import { JsonlWriter, tempPathNextTo, writeStream } from './jsonl.js';
import type { JsonSchema } from './output-schema.js';
import { usageOfBody } from './pricing.js';
import type { RecordsManifest, StoredRecord } from './templates.js';

export const EXPORT_FORMATS = ['jsonl', 'csv', 'parquet'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

type ColumnType = 'string' | 'int' | 'int64' | 'double' | 'bool';

interface Column {
  name: string;
  type: ColumnType;
}

type Cell = string | number | bigint | boolean | null;

const RESULT_COLUMNS: readonly (Column & { value: (line: ResultLine) => Cell })[] = [
  { name: 'custom_id', type: 'string', value: (l) => l.custom_id },
  { name: 'status', type: 'string', value: (l) => l.status },
  { name: 'output_text', type: 'string', value: (l) => l.output_text ?? null },
  { name: 'error_code', type: 'string', value: (l) => l.error?.code ?? null },
  { name: 'error_message', type: 'string', value: (l) => l.error?.message ?? null },
  { name: 'attempts', type: 'int', value: (l) => l.attempts },
  { name: 'batch_id', type: 'string', value: (l) => l.batch_id },
  { name: 'cached', type: 'bool', value: (l) => l.cached ?? false },
  {
    name: 'input_tokens',
    type: 'int',
    value: (l) => (l.response ? usageOfBody(l.response.body).input_tokens : null),
  },
  {
    name: 'output_tokens',
    type: 'int',
    value: (l) => (l.response ? usageOfBody(l.response.body).output_tokens : null),
  },
  // As JSON text: each provider's body has its own shape, which no column type could hold.
  {
    name: 'response',
    type: 'string',
    value: (l) => (l.response ? JSON.stringify(l.response) : null),
  },
];

/** Where the output's own columns go: after the text they were parsed from. */
const OUTPUT_COLUMNS_AT = RESULT_COLUMNS.findIndex((c) => c.name === 'output_text') + 1;

/** A column of the run's structured output: a top-level property of its schema. */
interface OutputColumn extends Column {
  property: string;
}

/** The column type a property's schema gives (JSON text for objects, arrays and the rest). */
function typeOfProperty(schema: unknown): ColumnType {
  const declared = (schema as { type?: unknown } | null)?.type;
  // `["integer", "null"]`, as OpenAI's strict mode writes an optional field: null is a cell too.
  const types = Array.isArray(declared) ? declared.filter((t) => t !== 'null') : [declared];
  const type = types.length === 1 ? types[0] : undefined;
  if (type === 'integer') return 'int64';
  if (type === 'number') return 'double';
  if (type === 'boolean') return 'bool';
  return 'string';
}

/** The run schema's top-level properties, in schema order (none without an object schema). */
function outputProperties(schema: JsonSchema | null): { property: string; type: ColumnType }[] {
  const properties = typeof schema === 'object' ? schema?.properties : undefined;
  if (!properties || typeof properties !== 'object') return [];
  return Object.entries(properties).map(([property, sub]) => ({
    property,
    type: typeOfProperty(sub),
  }));
}

/** An output property's value as its column holds it; a value of another type is JSON text or null. */
function outputCell(value: unknown, type: ColumnType): Cell {
  if (value === undefined || value === null) return null;
  if (type === 'int64') return Number.isSafeInteger(value) ? BigInt(value as number) : null;
  if (type === 'double') return typeof value === 'number' ? value : null;
  if (type === 'bool') return typeof value === 'boolean' ? value : null;
  return recordCell(value);
}

/** A run's table: its columns, and its rows as they are read. */
interface Table {
  columns: Column[];
  rows: AsyncIterable<Cell[]>;
}

/** A record's field as a cell: text as it is, anything else (numbers, objects) as JSON text. */
function recordCell(value: unknown): Cell {
  if (value === undefined || value === null) return null;
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** `name`, or `<prefix>_name` (again) while `taken` has it; the name given is then taken. */
function uniqueName(name: string, prefix: string, taken: Set<string>): string {
  let unique = name;
  while (taken.has(unique)) unique = `${prefix}_${unique}`;
  taken.add(unique);
  return unique;
}

async function runTable(store: ArtifactStore, runId: string, summary: RunSummary): Promise<Table> {
  const manifest = await store.readJson<RecordsManifest>(runId, artifactNames.recordsManifest);
  const recordColumns = manifest?.columns ?? [];
  const schema = await store.readJson<JsonSchema>(runId, artifactNames.outputSchema);
  // The records' columns come back exactly as they went in: a result column whose name a record
  // uses becomes `result_<name>`, then an output property whose name is taken `output_<name>`.
  const taken = new Set(recordColumns);
  const resultColumns = RESULT_COLUMNS.map(({ name, type }) => ({
    name: uniqueName(name, 'result', taken),
    type,
  }));
  const outputColumns: OutputColumn[] = outputProperties(schema).map(({ property, type }) => ({
    property,
    name: uniqueName(property, 'output', taken),
    type,
  }));
  const columns: Column[] = [
    ...recordColumns.map((name) => ({ name, type: 'string' as const })),
    ...resultColumns.slice(0, OUTPUT_COLUMNS_AT),
    ...outputColumns,
    ...resultColumns.slice(OUTPUT_COLUMNS_AT),
  ];
  const resultCells = (line: ResultLine): Cell[] => {
    const cells = RESULT_COLUMNS.map((c) => c.value(line));
    if (outputColumns.length === 0) return cells;
    const output = (line.output ?? {}) as Record<string, unknown>;
    const outputs = outputColumns.map((c) => outputCell(output[c.property], c.type));
    return [...cells.slice(0, OUTPUT_COLUMNS_AT), ...outputs, ...cells.slice(OUTPUT_COLUMNS_AT)];
  };
  async function* rows(): AsyncGenerator<Cell[]> {
    const records = manifest
      ? store.readLines(runId, artifactNames.records)[Symbol.asyncIterator]()
      : null;
    for await (const { text } of store.readLines(runId, summary.results_path)) {
      const line = JSON.parse(text) as ResultLine;
      const results = resultCells(line);
      if (!records) {
        yield results;
        continue;
      }
      const next = await records.next();
      const stored = next.done ? null : (JSON.parse(next.value.text) as StoredRecord);
      // Results are in input order, one per record: anything else means the records are not this run's.
      if (stored?.custom_id !== line.custom_id) {
        throw new Error(
          `run ${runId}: records.jsonl does not match the results at ${line.custom_id}`,
        );
      }
      yield [...recordColumns.map((name) => recordCell(stored.record[name])), ...results];
    }
  }
  return { columns, rows: rows() };
}

/** A CSV field as RFC 4180 quotes it: in quotes when it holds a comma, quote or line break. */
function csvField(cell: Cell): string {
  if (cell === null) return '';
  const text = String(cell);
  // An empty string is quoted so that it reads differently from a null.
  return text === '' || /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

async function writeCsv(table: Table, out: string): Promise<number> {
  const writer = await JsonlWriter.open(out);
  const row = (cells: Cell[]) =>
    // Raw bytes: a quoted field may hold a line break, which `write` (one line) does not take.
    writer.writeRaw(Buffer.from(`${cells.map(csvField).join(',')}\n`));
  let n = 0;
  try {
    await row(table.columns.map((c) => c.name));
    for await (const cells of table.rows) {
      await row(cells);
      n += 1;
    }
  } catch (err) {
    await writer.abort();
    throw err;
  }
  await writer.commit();
  return n;
}

const PARQUET_TYPES: Record<ColumnType, Omit<SchemaElement, 'name'>> = {
  string: { type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' },
  // Attempts and token counts of one request stay far below 2^31.
  int: { type: 'INT32', repetition_type: 'OPTIONAL' },
  // Integers of a model's output: any size JSON Schema allows.
  int64: { type: 'INT64', repetition_type: 'OPTIONAL' },
  double: { type: 'DOUBLE', repetition_type: 'OPTIONAL' },
  bool: { type: 'BOOLEAN', repetition_type: 'OPTIONAL' },
};

/**
 * Rows a row group holds at most, and text it holds at most (UTF-16 code units, counted roughly):
 * the rows of one group are all the export holds in memory, so long responses make smaller groups.
 */
const ROW_GROUP_ROWS = 10_000;
const ROW_GROUP_CHARS = 32 * 1024 * 1024;

async function writeParquet(table: Table, out: string): Promise<number> {
  // Loaded here: only a Parquet export needs it.
  const { fileWriter, ParquetWriter } = await import('hyparquet-writer');
  const { columns } = table;
  const temp = tempPathNextTo(out);
  const writer = new ParquetWriter({
    writer: fileWriter(temp),
    schema: [
      { name: 'root', num_children: columns.length },
      ...columns.map(({ name, type }) => ({ name, ...PARQUET_TYPES[type] })),
    ],
    createdBy: 'nightshift',
  });
  let group: Cell[][] = columns.map(() => []);
  let rows = 0;
  let chars = 0;
  let n = 0;
  const flush = async () => {
    if (rows === 0) return;
    await writer.write({
      columnData: columns.map(({ name }, i) => ({ name, data: group[i] as Cell[] })),
      rowGroupSize: rows,
    });
    group = columns.map(() => []);
    rows = 0;
    chars = 0;
  };
  try {
    for await (const cells of table.rows) {
      cells.forEach((cell, i) => {
        group[i]?.push(cell);
        if (typeof cell === 'string') chars += cell.length;
      });
      rows += 1;
      n += 1;
      if (rows >= ROW_GROUP_ROWS || chars >= ROW_GROUP_CHARS) await flush();
    }
    await flush();
    await writer.finish();
    await rename(temp, out);
  } catch (err) {
    await unlink(temp).catch(() => {});
    throw err;
  }
  return n;
}

/**
 * Writes the results of a finished run to `out` in `format`, atomically (a reader sees the whole
 * file or the one it replaces); jsonl is results.jsonl as it is. Returns the number of rows, or
 * null when the run has no results yet.
 */
export async function exportResults(
  store: ArtifactStore,
  runId: string,
  format: ExportFormat,
  out: string,
): Promise<number | null> {
  const summary = await store.readJson<RunSummary>(runId, artifactNames.summary);
  if (!summary) return null;
  if (format === 'jsonl') {
    return (await writeStream(out, store.read(runId, summary.results_path))).lines;
  }
  const table = await runTable(store, runId, summary);
  return format === 'csv' ? writeCsv(table, out) : writeParquet(table, out);
}
