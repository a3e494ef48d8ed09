const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM'];

/**
 * Resolves at the first Ctrl-C or SIGTERM, so the caller can stop what it runs in order; a
 * second one while it does exits at once.
 */
export function untilStopSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const first = (signal: NodeJS.Signals) => {
      for (const s of SIGNALS) process.off(s, first);
      for (const s of SIGNALS) process.once(s, () => process.exit(130));
      resolve(signal);
    };
    for (const s of SIGNALS) process.on(s, first);
  });
}
