/**
 * The client half of a goodbye (../../session/goodbye.ts) in WebSocket terms: the messages to send,
 * in order, and the close code (RFC 6455 §7.4.1, RFC 7395 §3.6). Pure.
 */
import type { ClientGoodbye } from '../../session/goodbye';
import type { Framing } from './framing';

export type WebSocketGoodbye =
  /** Drop the TCP connection without a close frame (the client is gone already, or unresponsive). */
  | { readonly kind: 'terminate' }
  | { readonly kind: 'close'; readonly messages: readonly string[]; readonly code: number; readonly reason?: string };

const TERMINATE: WebSocketGoodbye = Object.freeze({ kind: 'terminate' });

export function websocketGoodbye(plan: ClientGoodbye, framing: Framing): WebSocketGoodbye {
  switch (plan.kind) {
    case 'drop':
      return TERMINATE;
    case 'close-code':
      return { kind: 'close', messages: [], code: plan.closeCode, reason: plan.reason };
    case 'end-stream': {
      const messages: string[] = [];
      if (plan.openFirst) messages.push(framing.generatedOpen(plan.domain));
      if (plan.streamError !== null) messages.push(framing.streamError(plan.streamError.condition, plan.streamError.text));
      messages.push(framing.close(plan.seeOtherUri));
      return { kind: 'close', messages, code: plan.closeCode };
    }
  }
}
