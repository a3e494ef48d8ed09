import { effectiveLimit, heldTokens, type LedgerState } from '../../workflows/ledger.js';

const n = (x: number) => x.toLocaleString('en-US');

/** A ledger for people: its limit, who holds tokens, who waits (in order), the latest grants. */
export function formatLedger(s: LedgerState): string {
  const { provider, account, model } = s.key;
  const limit = effectiveLimit(s);
  const lines = [
    `${provider} ${model} (account ${account}): ` +
      (limit === Number.POSITIVE_INFINITY ? 'unlimited' : `${n(limit)} enqueued tokens`) +
      (s.learned === null
        ? ''
        : ` (learned from a token_limit_exceeded; set: ${s.limit === null ? 'unlimited' : n(s.limit)})`),
    `  reserved  ${n(heldTokens(s))} tokens by ${s.held.length} batches`,
  ];
  for (const r of s.held)
    lines.push(`            ${r.runId} part ${r.part}: ${n(r.tokens)} since ${r.since}`);
  lines.push(`  waiting   ${s.waiting.length} batches, served in this order`);
  s.waiting.forEach((r, i) => {
    lines.push(`            ${i + 1}. ${r.runId} part ${r.part}: ${n(r.tokens)} since ${r.since}`);
  });
  if (s.granted.length > 0) {
    lines.push('  granted   (latest last)');
    for (const g of s.granted.slice(-10))
      lines.push(`            ${g.at} ${g.holder} ${n(g.tokens)}`);
  }
  return lines.join('\n');
}
