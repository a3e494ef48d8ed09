import { encodeSearchAttributeIndexedValueType } from '@temporalio/common/lib/search-attributes.js';
import { type EphemeralServerExecutable, TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import {
  BinaryNotFoundError,
  resolveTemporalBinary,
  type TemporalBinaryKind,
} from '../../src/temporal/binaries.js';
import { SEARCH_ATTRIBUTES } from '../../workflows/search-attributes.js';

// Worker state changes at INFO would drown the test runner's output.
Runtime.install({ logger: new DefaultLogger('WARN') });

/**
 * A real Temporal dev server on a free port, with Nightshift's search attributes registered.
 * The binary comes from the resolver (never a download), so run `nightshift tools install` first.
 */
export async function startDevServer(): Promise<TestWorkflowEnvironment> {
  return TestWorkflowEnvironment.createLocal({
    server: {
      executable: await serverExecutable('cli'),
      ip: '127.0.0.1',
      ui: false,
      searchAttributes: SEARCH_ATTRIBUTES,
      log: { format: 'pretty', level: 'error' },
    },
  });
}

/** The Java time-skipping test server: timers fire as soon as nothing else is running. */
export async function startTimeSkippingServer(): Promise<TestWorkflowEnvironment> {
  const env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: await serverExecutable('testServer') },
  });
  // The test server takes no search-attribute flags but implements this one operator call.
  await env.connection.operatorService.addSearchAttributes({
    namespace: env.namespace ?? 'default',
    searchAttributes: Object.fromEntries(
      SEARCH_ATTRIBUTES.map((key) => [
        key.name,
        encodeSearchAttributeIndexedValueType(key.type) ?? 0,
      ]),
    ),
  });
  return env;
}

/**
 * The executable option for the SDK's ephemeral servers. Falls back to the SDK's own download
 * only when NIGHTSHIFT_ALLOW_TEMPORAL_DOWNLOAD=1, because on registry-only machines it hangs.
 */
export async function serverExecutable(
  kind: TemporalBinaryKind,
  options: { env?: NodeJS.ProcessEnv } = {},
): Promise<EphemeralServerExecutable> {
  try {
    const bin = await resolveTemporalBinary(kind, options);
    return { type: 'existing-path', path: bin.path };
  } catch (err) {
    const env = options.env ?? process.env;
    if (err instanceof BinaryNotFoundError && env.NIGHTSHIFT_ALLOW_TEMPORAL_DOWNLOAD === '1') {
      return { type: 'cached-download' };
    }
    throw err;
  }
}
