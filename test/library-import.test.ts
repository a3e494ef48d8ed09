import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { promisify } from 'node:util';

// Importing the library is free of side effects: a script that only submits runs must not have
// its V8 flags changed (the worker's garbage collector is installed when a worker starts).

const LIBRARY = new URL('../src/index.js', import.meta.url).href;

test("importing 'nightshift' changes no V8 flag", async () => {
  const script = `
    const v8 = require('node:v8');
    const { syncBuiltinESMExports } = require('node:module');
    const flags = [];
    const original = v8.setFlagsFromString;
    v8.setFlagsFromString = (flag) => { flags.push(flag); return original(flag); };
    syncBuiltinESMExports();
    import(${JSON.stringify(LIBRARY)}).then((lib) => {
      console.log(JSON.stringify({ flags, exports: Object.keys(lib).length }));
    });
  `;
  const { stdout } = await promisify(execFile)(process.execPath, ['-e', script]);
  const { flags, exports } = JSON.parse(stdout) as { flags: string[]; exports: number };
  assert.ok(exports > 0, 'the library loaded');
  assert.deepEqual(flags, []);
});
