import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { setTimeout as delay } from 'node:timers/promises';
import { ANTHROPIC_ROUTES } from './anthropic/batches.js';
import { ANTHROPIC } from './anthropic/errors.js';
import { BatchProcessor, type Timing } from './batch-processor.js';
import { cancelBatch, createBatch, listBatches, retrieveBatch } from './batches-routes.js';
import type { Call, Dialect, Route, State } from './context.js';
import { ApiError, statusErrorBody } from './errors.js';
import { FaultSet } from './faults.js';
import { createFile, deleteFile, fileContent, listFiles, retrieveFile } from './files-routes.js';
import { GEMINI } from './gemini/dialect.js';
import { GEMINI_ROUTES } from './gemini/routes.js';
import { dropAnswer, readJson, sendJson } from './http.js';
import { StateFile } from './state-file.js';
import { apiOf, ENDED_STATUSES, Store } from './store.js';
import { SYNC_ROUTES, SyncLimiter } from './sync-routes.js';
import { answerAsTogether, TOGETHER_BATCH_PURPOSE, togetherPath } from './together.js';
import type { EmulatorStats, EndpointName, FaultRule, SyncSettings } from './types.js';
import type { WebhookSender } from './webhooks.js';

export interface ServerConfig {
  dataDir: string;
  timing: Timing;
  seed: number;
  requireAuth: boolean;
  maxFileBytes: number;
  enqueuedTokenLimit: number | null;
  webhooks: WebhookSender | null;
  /** Keep the records in `dataDir` and pick up from those found there. */
  persist: boolean;
  sync: SyncSettings;
}

const ID = '([^/]+)';
const ROUTES: Route[] = [
  {
    method: 'POST',
    path: /^\/v1\/files$/,
    name: 'files.create',
    handler: createFile,
  },
  { method: 'GET', path: /^\/v1\/files$/, name: 'files.list', handler: listFiles },
  {
    method: 'GET',
    path: new RegExp(`^/v1/files/${ID}$`),
    name: 'files.retrieve',
    handler: retrieveFile,
  },
  {
    method: 'DELETE',
    path: new RegExp(`^/v1/files/${ID}$`),
    name: 'files.delete',
    handler: deleteFile,
  },
  {
    method: 'GET',
    path: new RegExp(`^/v1/files/${ID}/content$`),
    name: 'files.content',
    handler: fileContent,
  },
  {
    method: 'POST',
    path: /^\/v1\/batches$/,
    name: 'batches.create',
    handler: createBatch,
  },
  {
    method: 'GET',
    path: /^\/v1\/batches$/,
    name: 'batches.list',
    handler: listBatches,
  },
  {
    method: 'GET',
    path: new RegExp(`^/v1/batches/${ID}$`),
    name: 'batches.retrieve',
    handler: retrieveBatch,
  },
  {
    method: 'POST',
    path: new RegExp(`^/v1/batches/${ID}/cancel$`),
    name: 'batches.cancel',
    handler: cancelBatch,
  },
  ...ANTHROPIC_ROUTES,
  ...GEMINI_ROUTES,
  ...SYNC_ROUTES,
];

const OPENAI: Dialect = {
  authorized: (req) => /^Bearer \S+/.test(req.headers.authorization ?? ''),
  missingKey: () =>
    new ApiError(
      401,
      "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
      'invalid_request_error',
    ),
  errorBody: (err) => err.body(),
};

/**
 * The HTTP side of the emulator: OpenAI's and Anthropic's routes under `/v1` (and Azure's
 * under `/openai`, Together's under `/together/v1`), Gemini's under `/v1beta` (with `/upload` and `/download`), and a control API
 * without auth:
 * `GET /_emulator/stats`, `POST /_emulator/reset`, `POST /_emulator/sync` (SyncSettings as JSON),
 * `POST /_emulator/faults` (a FaultRule as JSON,
 * answers `{id}`) and `DELETE /_emulator/faults`.
 */
export class EmulatorServer {
  readonly http: Server;
  private state: State;
  private readonly disposing = new Set<Promise<void>>();
  private readonly stateFile: StateFile | null;

  private constructor(
    private readonly config: ServerConfig,
    store: Store,
  ) {
    this.stateFile = config.persist
      ? new StateFile(config.dataDir, () => this.state.store.snapshot())
      : null;
    this.state = this.freshState(store);
    this.http = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => fail(res, err));
    });
  }

  /** With `persist`, restores the records saved in `dataDir` and resumes the batches running. */
  static async open(config: ServerConfig): Promise<EmulatorServer> {
    const saved = config.persist ? await StateFile.read(config.dataDir) : null;
    const store = saved ? Store.restore(config.dataDir, saved) : new Store(config.dataDir);
    if (saved) await StateFile.sweep(config.dataDir, store.blobNames());
    const server = new EmulatorServer(config, store);
    for (const batch of store.allBatches()) {
      if (!ENDED_STATUSES.has(batch.status)) server.state.processor.start(batch);
    }
    return server;
  }

  stats(): EmulatorStats {
    const { store, faults, calls } = this.state;
    return {
      calls: Object.fromEntries(
        [...calls].map(([name, count]) => [
          name,
          { total: count.total, byStatus: { ...count.byStatus } },
        ]),
      ),
      files: store.allFiles().map((f) => ({
        id: f.id,
        purpose: f.purpose,
        filename: f.filename,
        bytes: f.bytes,
        lines: f.lines,
        created_at: f.created_at,
        expires_at: f.expires_at,
        deleted: f.deleted,
      })),
      batches: store.allBatches().map((b) => ({
        id: b.id,
        api: apiOf(b),
        input_file_id: b.input_file_id,
        endpoint: b.endpoint,
        model: b.model,
        metadata: b.metadata,
        status: b.status,
        request_counts: b.progress().request_counts,
        output_file_id: b.output_file_id,
        error_file_id: b.error_file_id,
        created_at: b.created_at,
      })),
      submissions: store.submissionCounts(),
      faults: faults.snapshot(),
      webhooks: this.config.webhooks?.stats() ?? [],
      sync: this.state.sync.stats(),
    };
  }

  /**
   * Starts over at once, the saved records included; the old state's running batches and files
   * are disposed of meanwhile.
   */
  reset(): Promise<void> {
    const old = this.state;
    old.store.onChange = () => {};
    this.state = this.freshState(new Store(this.config.dataDir));
    this.stateFile?.changed();
    const disposal = Promise.all([
      old.processor.reset().then(() => old.store.clear()),
      this.config.webhooks?.reset(),
    ]).then(() => {
      this.disposing.delete(disposal);
    });
    this.disposing.add(disposal);
    return disposal;
  }

  addFault(rule: FaultRule): string {
    return this.state.faults.add(rule);
  }

  clearFaults(): void {
    this.state.faults.clear();
  }

  configureSync(settings: SyncSettings): void {
    this.config.sync = settings;
    this.state.sync.configure(settings);
  }

  /** Stops serving; batches stop where they are, to be resumed by the next `open`. */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.http.close(() => resolve()));
    this.http.closeAllConnections();
    await Promise.all([closed, this.state.processor.pause(), this.config.webhooks?.reset()]);
    await Promise.all(this.disposing);
    await this.stateFile?.close();
  }

  private freshState(store: Store): State {
    const { config } = this;
    store.onChange = () => this.stateFile?.changed();
    return {
      store,
      faults: new FaultSet(config.seed),
      calls: new Map(),
      sync: new SyncLimiter(config.sync),
      processor: new BatchProcessor({
        store,
        timing: config.timing,
        seed: config.seed,
        webhooks: config.webhooks,
        enqueuedTokenLimit: config.enqueuedTokenLimit,
      }),
    };
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://emulator');
    if (url.pathname.startsWith('/_emulator/')) return this.control(req, res, url.pathname);

    const azure = azureDialect(url);
    const together = togetherPath(req.method, url.pathname);
    const matched = matchRoute(req.method, azure?.pathname ?? together ?? url.pathname);
    if (!matched) {
      const unknown = `Invalid URL (${req.method} ${url.pathname})`;
      fail(res, new ApiError(404, unknown, 'invalid_request_error'), dialectOf(url.pathname));
      return;
    }
    const { route, id } = matched;
    const state = this.state;
    let counted = false;
    const call: Call = {
      state,
      req,
      res,
      id,
      query: url.searchParams,
      maxFileBytes: this.config.maxFileBytes,
      completionWindowMs: this.config.timing.completionWindowMs,
      batchPurpose: together ? TOGETHER_BATCH_PURPOSE : 'batch',
      fault: undefined,
      count: () => {
        if (!counted) countCall(state, route.name, call.outcome ?? String(res.statusCode));
        counted = true;
      },
    };
    if (together) answerAsTogether(res, route.name);
    try {
      if (azure && this.config.requireAuth) checkAzureAuth(call, azure.v1);
      await this.serve(call, route, azure !== null);
    } catch (err) {
      fail(res, err, route.dialect);
    } finally {
      call.count();
    }
  }

  private async serve(call: Call, route: Route, authChecked: boolean): Promise<void> {
    const { req, state } = call;
    const dialect = route.dialect ?? OPENAI;
    if (this.config.requireAuth && !authChecked && !dialect.authorized(req, call.query)) {
      throw dialect.missingKey();
    }
    dialect.checkRequest?.(req);
    call.fault = state.faults.takeHttpFault(route.name);
    switch (call.fault?.kind) {
      case 'reset':
        call.outcome = 'reset';
        req.socket.destroy();
        return;
      case 'reset_after':
        call.outcome = 'reset';
        dropAnswer.add(call.res);
        break;
      case 'slow':
        await delay(call.fault.delayMs ?? 1000);
        break;
      case 'http_429':
      case 'http_500':
      case 'http_503':
        throw httpFault(call.fault);
    }
    await route.handler(call);
  }

  private async control(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const action = `${req.method} ${path}`;
    switch (action) {
      case 'GET /_emulator/stats':
        return sendJson(res, 200, this.stats());
      case 'POST /_emulator/reset':
        await this.reset();
        return sendJson(res, 200, { ok: true });
      case 'POST /_emulator/faults':
        return sendJson(res, 200, {
          id: this.addFault((await readJson(req)) as unknown as FaultRule),
        });
      case 'POST /_emulator/sync':
        this.configureSync((await readJson(req)) as SyncSettings);
        return sendJson(res, 200, { ok: true });
      case 'DELETE /_emulator/faults':
        this.clearFaults();
        return sendJson(res, 200, { ok: true });
      default:
        throw new ApiError(404, `Unknown control action (${action})`, 'invalid_request_error');
    }
  }
}

function matchRoute(
  method: string | undefined,
  pathname: string,
): { route: Route; id: string } | null {
  for (const route of ROUTES) {
    const match = route.method === method ? route.path.exec(pathname) : null;
    if (match) return { route, id: decodeURIComponent(match[1] ?? '') };
  }
  return null;
}

/** Whose API an unknown path was meant for, to answer in its words. */
function dialectOf(pathname: string): Dialect {
  if (pathname.startsWith('/v1/messages')) return ANTHROPIC;
  if (/^\/(v1beta|upload|download)\//.test(pathname)) return GEMINI;
  return OPENAI;
}

/**
 * Azure OpenAI's paths for the same Files and Batch APIs: `/openai/{files,batches}…` with an
 * `api-version` query (what `AzureOpenAI` calls), or the version-less `/openai/v1/…`. Azure's
 * batch guide: https://learn.microsoft.com/azure/ai-foundry/openai/how-to/batch.
 */
function azureDialect(url: URL): { pathname: string; v1: boolean } | null {
  const match = /^\/openai\/(v1\/)?(.*)$/.exec(url.pathname);
  if (!match) return null;
  // Synchronous calls name the deployment in the path (`deployments/<name>/chat/completions`).
  const path = (match[2] as string).replace(/^deployments\/[^/]+\//, '');
  return { pathname: `/v1/${path}`, v1: match[1] !== undefined };
}

/** Azure authenticates with an `api-key` header (or Entra ID's bearer token) and a version. */
function checkAzureAuth(call: Call, v1: boolean): void {
  const { headers } = call.req;
  if (!headers['api-key'] && !/^Bearer \S+/.test(headers.authorization ?? '')) {
    throw new ApiError(
      401,
      'Access denied due to invalid subscription key or wrong API endpoint.',
      'invalid_request_error',
      null,
      '401',
    );
  }
  if (!v1 && !call.query.get('api-version')) {
    throw new ApiError(
      400,
      'Missing required query parameter: api-version',
      'invalid_request_error',
      'api-version',
      'MissingApiVersionParameter',
    );
  }
}

function httpFault(rule: FaultRule): ApiError {
  const status = Number(rule.kind.slice('http_'.length));
  const { message, type, param, code } = statusErrorBody(status).error;
  const headers: Record<string, string> = {};
  if (rule.retryAfterSeconds !== undefined) {
    headers['retry-after'] = String(Math.ceil(rule.retryAfterSeconds));
    // The SDK prefers the exact millisecond hint, which lets tests retry in milliseconds.
    headers['retry-after-ms'] = String(Math.round(rule.retryAfterSeconds * 1000));
  }
  return new ApiError(status, message, type, param, code, headers);
}

function countCall(state: State, name: EndpointName, status: string): void {
  const count = state.calls.get(name) ?? { total: 0, byStatus: {} };
  count.total++;
  count.byStatus[status] = (count.byStatus[status] ?? 0) + 1;
  state.calls.set(name, count);
}

/** Answers with the error in the shape of the API the call was made to. */
function fail(res: ServerResponse, err: unknown, dialect = OPENAI): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const error =
    err instanceof ApiError
      ? err
      : new ApiError(500, 'The server had an error while processing your request.', 'server_error');
  sendJson(res, error.status, dialect.errorBody(error), error.headers);
}
