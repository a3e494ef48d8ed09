import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { SearchAttributeType } from '@temporalio/common';
import { parse } from 'yaml';
import { SEARCH_ATTRIBUTES } from '../workflows/search-attributes.js';

// No Docker engine here: the compose file and the Dockerfile are checked for structure.

const root = new URL('../../', import.meta.url);

interface Service {
  image?: string;
  build?: unknown;
  command?: string[] | string;
  ports?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] | string };
  environment?: Record<string, string>;
  volumes?: string[];
  deploy?: { replicas?: number | string };
}

const compose = parse(await readFile(new URL('docker-compose.yml', root), 'utf8')) as {
  services: Record<string, Service>;
  volumes: Record<string, unknown>;
};
const { services } = compose;

function service(name: string): Service {
  const found = services[name];
  assert.ok(found, `service ${name}`);
  return found;
}

test('Temporal on PostgreSQL, from the images the Temporal project publishes', () => {
  assert.match(service('postgresql').image ?? '', /^postgres:\d+/);
  assert.ok(service('postgresql').volumes?.includes('postgresql-data:/var/lib/postgresql/data'));
  assert.ok('postgresql-data' in compose.volumes);
  assert.match(service('temporal-schema').image ?? '', /^temporalio\/admin-tools:/);
  assert.match(String(service('temporal-schema').command), /temporal-sql-tool --plugin postgres12/);
  const temporal = service('temporal');
  assert.match(temporal.image ?? '', /^temporalio\/server:/);
  assert.equal(temporal.environment?.DB, 'postgres12');
  assert.equal(temporal.environment?.POSTGRES_SEEDS, 'postgresql');
  assert.deepEqual(temporal.ports, ['7233:7233']);
  assert.match(service('temporal-ui').image ?? '', /^temporalio\/ui:/);
  assert.deepEqual(service('temporal-ui').ports, ['8080:8080']);
  // One tag for the server and its tools, so the schema matches the server.
  const tag = (s: string) => service(s).image?.split(':')[1];
  assert.equal(tag('temporal-schema'), tag('temporal'));
  assert.equal(tag('temporal-init'), tag('temporal'));
});

test('start order follows health: database, schema, server, init, then UI and worker', () => {
  const dependsOn = (s: string) =>
    Object.fromEntries(
      Object.entries(service(s).depends_on ?? {}).map(([k, v]) => [k, v.condition]),
    );
  assert.deepEqual(dependsOn('temporal-schema'), { postgresql: 'service_healthy' });
  assert.deepEqual(dependsOn('temporal'), { 'temporal-schema': 'service_completed_successfully' });
  assert.deepEqual(dependsOn('temporal-init'), { temporal: 'service_healthy' });
  assert.deepEqual(dependsOn('temporal-ui'), { temporal: 'service_healthy' });
  assert.deepEqual(dependsOn('nightshift-worker'), {
    'temporal-init': 'service_completed_successfully',
    seaweedfs: 'service_healthy',
  });
  for (const name of ['postgresql', 'temporal', 'temporal-ui', 'seaweedfs', 'nightshift-worker']) {
    assert.ok(service(name).healthcheck?.test, `${name} has a health check`);
  }
  for (const [name, s] of Object.entries(services)) {
    for (const dep of Object.keys(s.depends_on ?? {})) assert.ok(services[dep], `${name} → ${dep}`);
  }
});

test('the init step registers every search attribute the workflows set', () => {
  const script = String(service('temporal-init').command);
  assert.match(script, /temporal operator search-attribute create/);
  for (const key of SEARCH_ATTRIBUTES) {
    const type = key.type === SearchAttributeType.KEYWORD_LIST ? 'KeywordList' : 'Keyword';
    assert.match(script, new RegExp(`${key.name}:${type}\\b`), key.name);
  }
});

test('workers share nothing but Temporal and the S3 store, whose keys they and it agree on', () => {
  const worker = service('nightshift-worker');
  const store = service('seaweedfs');
  assert.match(store.image ?? '', /^chrislusf\/seaweedfs:\d/);
  assert.match(String(store.command), /mini.*-bucket=nightshift/);
  assert.ok(store.volumes?.includes('seaweedfs-data:/data') && 'seaweedfs-data' in compose.volumes);
  const env = worker.environment ?? {};
  assert.equal(env.NIGHTSHIFT_STORE, 's3://nightshift/runs');
  assert.equal(env.AWS_ENDPOINT_URL_S3, 'http://seaweedfs:8333');
  for (const key of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY']) {
    assert.equal(env[key], store.environment?.[key], key);
  }
  assert.equal(worker.volumes, undefined, 'no volume: nothing shared on disk');
  assert.equal(env.NIGHTSHIFT_HOME, undefined);
  assert.match(String(worker.deploy?.replicas), /NIGHTSHIFT_WORKERS:-2/);
});

test('the worker is built from the Dockerfile and configured from the environment', async () => {
  const worker = service('nightshift-worker');
  assert.equal(worker.build, '.');
  assert.deepEqual(worker.command, ['worker']);
  const env = worker.environment ?? {};
  assert.equal(env.TEMPORAL_ADDRESS, 'temporal:7233');
  assert.equal(env.TEMPORAL_NAMESPACE, 'default');
  assert.equal(env.NIGHTSHIFT_TASK_QUEUE, 'nightshift');
  assert.match(env.OPENAI_API_KEY ?? '', /^\$\{OPENAI_API_KEY:\?/, 'required, never baked in');

  const dockerfile = await readFile(new URL('Dockerfile', root), 'utf8');
  assert.match(dockerfile, /^FROM node:24-slim/m);
  assert.match(dockerfile, /npm ci/);
  assert.match(dockerfile, /tsc -p tsconfig\.json/);
  // As `npm run build`: the workflows bundled once, so that the worker does not run webpack.
  assert.match(dockerfile, /COPY scripts\/bundle-workflows\.mjs/);
  assert.match(dockerfile, /tsc -p tsconfig\.json && node scripts\/bundle-workflows\.mjs/);
  assert.match(dockerfile, /ENTRYPOINT \["node", "dist\/src\/cli\.js"\]/);
  assert.match(dockerfile, /CMD \["worker"\]/);
});
