// `nightshift cache stats|prune`: the result cache in the store, seen and trimmed.
import type { Command } from 'commander';
import { loadConfig } from '../config.js';
import { examples, UsageError } from './common.js';

/** The store, loaded on use: `--help` and the other commands need none of it. */
async function openCheckedStore() {
  const { checkedStore } = await import('./store.js');
  return checkedStore(loadConfig());
}

const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;

export function registerCache(program: Command): void {
  const cache = program
    .command('cache')
    .description(
      'the result cache: answers of earlier runs, served instead of sending the same request again',
    );
  cache
    .command('stats')
    .description('entries per provider, their size, the oldest and the newest')
    .action(async () => {
      const { cacheStats } = await import('../cache.js');
      const store = await openCheckedStore();
      const { providers } = await cacheStats(store);
      const rows = Object.entries(providers);
      if (rows.length === 0) console.log(`no cache entries in ${store.location}`);
      for (const [provider, s] of rows) {
        console.log(
          `${provider}: ${s.entries} entries, ${mb(s.bytes)}, ` +
            `from ${s.oldest.toISOString()} to ${s.newest.toISOString()}`,
        );
      }
    });
  cache
    .command('prune')
    .description('remove the entries written longer ago than --older-than')
    .requiredOption('--older-than <age>', 'how long ago an entry was written: 30d, 12h, 90m')
    .addHelpText('after', examples('nightshift cache prune --older-than 30d'))
    .action(async (flags: { olderThan: string }) => {
      const [{ pruneCache }, { parseAge }] = await Promise.all([
        import('../cache.js'),
        import('../gc.js'),
      ]);
      const age = parseAge(flags.olderThan);
      if (age === null) {
        throw new UsageError(`--older-than: expected 30d, 12h or 90m, got ${flags.olderThan}`);
      }
      const store = await openCheckedStore();
      const removed = await pruneCache(store, new Date(Date.now() - age));
      console.log(`${removed} cache entries removed (${store.location})`);
    });
}
