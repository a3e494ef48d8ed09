import type { Command } from 'commander';
import { untilStopSignal } from '../dev/signals.js';
import { examples, port, UsageError } from './common.js';

export function registerCodecServer(program: Command): void {
  program
    .command('codec-server')
    .description(
      'decrypt payloads for the Temporal UI (runs encrypted with NIGHTSHIFT_ENCRYPTION_KEYS)',
    )
    .option('--port <n>', 'port', port, 8081)
    .option(
      '--ui-origin <url>',
      'the Temporal UI allowed to call it (CORS)',
      'http://localhost:8233',
    )
    .addHelpText(
      'after',
      examples(
        'NIGHTSHIFT_ENCRYPTION_KEYS=k1=$(openssl rand -base64 32) nightshift codec-server',
        'temporal server start-dev --ui-codec-endpoint http://127.0.0.1:8081   # then open the UI',
      ),
    )
    .action(async (flags: { port: number; uiOrigin: string }) => {
      const [{ startCodecServer }, { dataConverterFor }, { loadConfig }] = await Promise.all([
        import('../codec/codec-server.js'),
        import('../codec/encryption.js'),
        import('../config.js'),
      ]);
      const codec = dataConverterFor(loadConfig().temporal.encryptionKeys)?.payloadCodecs?.[0];
      if (!codec) {
        throw new UsageError('NIGHTSHIFT_ENCRYPTION_KEYS is not set: nothing to decrypt with');
      }
      const server = await startCodecServer(codec, {
        port: flags.port,
        allowOrigin: flags.uiOrigin,
      });
      const stopped = untilStopSignal();
      console.log(
        `codec server on ${server.url} for ${flags.uiOrigin}: set it as the UI's codec endpoint. ` +
          'It holds the keys: keep it private. Ctrl-C stops it.',
      );
      await stopped;
      await server.close();
    });
}
