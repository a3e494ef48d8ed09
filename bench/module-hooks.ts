// Module loader hooks (they run on the loader's own thread): each module the program loads is
// reported to the main thread, where `module-recorder.ts` collects them.
import type { InitializeHook, LoadHook } from 'node:module';
import type { MessagePort } from 'node:worker_threads';

let port: MessagePort | undefined;

export const initialize: InitializeHook<{ port: MessagePort }> = (data) => {
  port = data.port;
};

export const load: LoadHook = (url, context, nextLoad) => {
  port?.postMessage(url);
  return nextLoad(url, context);
};
