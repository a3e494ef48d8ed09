// The OpenAI batch line ({custom_id, method, url, body}) is Nightshift's input format for every
// provider; each provider's adapter turns it (or its own native line) into the line its batch
// takes. Pure: prepare and the client's validation both call it, before anything is spent.

/** A request as a provider's batch takes it, or why it cannot be sent there. */
export type Translation =
  | {
      ok: true;
      customId: string;
      /** The model the request names (null when the endpoint needs none). */
      model: string | null;
      /** The provider's own line, written to the part as one JSON line. */
      line: unknown;
    }
  | {
      ok: false;
      /** What is wrong, naming the field ("body.logprobs is not supported by Anthropic"). */
      message: string;
    };

/** Turns one parsed input line into the provider's request line. */
export type LineTranslator = (line: Record<string, unknown>) => Translation;
