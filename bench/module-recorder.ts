// `node --import …/module-recorder.js program …` with NIGHTSHIFT_MODULES_OUT=<file>: at exit, the
// files of every module the program loaded (ES modules through the loader hooks, CommonJS ones
// from the require cache) are written to that file, one path a line. The startup benchmark and
// test/startup.test.ts count them.
import { writeFileSync } from 'node:fs';
import { createRequire, register } from 'node:module';
import { fileURLToPath } from 'node:url';
import { MessageChannel, receiveMessageOnPort } from 'node:worker_threads';

const out = process.env.NIGHTSHIFT_MODULES_OUT;
if (out) {
  const { port1, port2 } = new MessageChannel();
  port1.unref();
  register('./module-hooks.js', import.meta.url, { data: { port: port2 }, transferList: [port2] });
  const requireCache = createRequire(import.meta.url).cache;
  process.once('exit', () => {
    const files = new Set(Object.keys(requireCache));
    // `exit` handlers run synchronously: read what the hooks posted without an event loop turn.
    for (let m = receiveMessageOnPort(port1); m; m = receiveMessageOnPort(port1)) {
      const url = m.message as string;
      if (url.startsWith('file:')) files.add(fileURLToPath(url));
    }
    writeFileSync(out, [...files].sort().join('\n'));
  });
}
