/**
 * Every size and count limit of the data path, derived once from the configuration and handed to
 * the parts that enforce them: the tokenizers (client messages, the server's stream, legacy stream
 * headers), the WebSocket server and framing, the pre-connect queue and the backpressure marks.
 * One meaning per limit:
 *
 * - `--max-stanza-size` is the largest XML element, in bytes as sent, in either direction: a stanza
 *   or any other top-level element (`<stream:features/>`, `<open/>`), or a stream header. Each
 *   tokenizer enforces it while bytes arrive, before buffering more.
 * - A WebSocket message may hold one element plus whitespace; the `ws` server refuses a message of
 *   more than twice the element limit before buffering it (close 1009, Prosody's
 *   `websocket_frame_buffer_limit` rule), so a message only slightly over still gets the
 *   `policy-violation` stream error from the tokenizer.
 */
import type { Config } from './config';
import { DEFAULT_TOKENIZER_LIMITS, type TokenizerLimits } from './xml/tokens';

export interface Limits {
  /** For every tokenizer of the data path: element bytes (--max-stanza-size), depth (--max-depth), attributes. */
  readonly xml: TokenizerLimits;
  /** Largest WebSocket message `ws` buffers: twice --max-stanza-size. */
  readonly maxWebSocketMessageBytes: number;
  /** Client data held while upstream connects (--pre-connect-queue-messages, --pre-connect-queue-bytes). */
  readonly preConnectQueueMessages: number;
  readonly preConnectQueueBytes: number;
  /** Unsent bytes to the client above which server reads pause, resuming below half (--ws-high-water-mark). */
  readonly wsHighWaterMark: number;
}

export function limitsFrom(config: Config): Limits {
  return Object.freeze({
    xml: Object.freeze({ maxElementBytes: config.maxStanzaSize, maxDepth: config.maxDepth, maxAttributes: DEFAULT_TOKENIZER_LIMITS.maxAttributes }),
    maxWebSocketMessageBytes: 2 * config.maxStanzaSize,
    preConnectQueueMessages: config.preConnectQueueMessages,
    preConnectQueueBytes: config.preConnectQueueBytes,
    wsHighWaterMark: config.wsHighWaterMark,
  });
}
