// The enqueued-token quota's settings, as the environment gives them: light, since every command
// loads the configuration (the ledger's client side is in quota.ts).

/** The account runs queue in unless NIGHTSHIFT_QUOTA_ACCOUNT names another. */
export const DEFAULT_QUOTA_ACCOUNT = 'default';

/**
 * `NIGHTSHIFT_ENQUEUED_TOKENS`: `openai/gpt-4o-mini=2000000,anthropic/claude-sonnet-4=500000`.
 * @throws RangeError naming the pair that does not parse
 */
export function parseEnqueuedTokens(
  value: string,
): { provider: string; model: string; limit: number }[] {
  return value
    .split(',')
    .filter((pair) => pair.trim() !== '')
    .map((pair) => {
      const match = /^\s*([^/=\s]+)\/([^=\s]+)=(\d+)\s*$/.exec(pair);
      if (!match) {
        throw new RangeError(
          `expected provider/model=tokens pairs, e.g. openai/gpt-4o-mini=2000000, got "${pair}"`,
        );
      }
      return { provider: match[1] as string, model: match[2] as string, limit: Number(match[3]) };
    });
}
