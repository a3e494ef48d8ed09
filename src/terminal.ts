const ANSI = {
  bold: ['\x1b[1m', '\x1b[22m'],
  red: ['\x1b[31m', '\x1b[39m'],
  yellow: ['\x1b[33m', '\x1b[39m'],
} as const;

/** Marks text for a terminal; the same text, unmarked, wherever output is kept (a file, a pipe). */
export type Paint = (style: keyof typeof ANSI, text: string) => string;

export const plain: Paint = (_style, text) => text;

/**
 * Colours for what goes to `stream`: only on a terminal that shows them, as Node decides it
 * (`NO_COLOR`, `NODE_DISABLE_COLORS` and `TERM=dumb` turn them off). Each line is marked on its
 * own, so that no line leaves a colour on for the next.
 */
export function paintFor(
  stream: Pick<NodeJS.WriteStream, 'isTTY' | 'hasColors'>,
  /** What Node reads colours from: the process's own environment unless given. */
  env?: NodeJS.ProcessEnv,
): Paint {
  if (!stream.isTTY || !stream.hasColors(env)) return plain;
  return (style, text) => {
    const [on, off] = ANSI[style];
    return text
      .split('\n')
      .map((line) => (line ? `${on}${line}${off}` : line))
      .join('\n');
  };
}
