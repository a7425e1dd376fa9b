/**
 * XEP-0124 §17.2 terminal binding conditions the gateway sends in `<body type='terminate' condition='…'/>`,
 * with the HTTP status each one gets.
 *
 * XEP-0124 §17.1: every HTTP status but 200 was superseded by these conditions, so that a client can
 * tell the connection manager's errors from an intermediary's; a connection manager SHOULD NOT send
 * HTTP error codes except to a *legacy* client (one whose session creation request had no `ver`),
 * which expects 400 for bad-request, 403 for policy-violation and 404 for item-not-found (§19.1).
 * Requests that are not a BOSH body at all cannot be tied to a client, legacy or not: they get
 * HTTP 400 with the bad-request body, which both kinds of client (and any HTTP tool) read as fatal.
 */

export const BOSH_CONDITIONS = [
  'bad-request',
  'host-gone',
  'host-unknown',
  'improper-addressing',
  'internal-server-error',
  'item-not-found',
  'other-request',
  'policy-violation',
  'remote-connection-failed',
  'remote-stream-error',
  'see-other-uri',
  'system-shutdown',
  'undefined-condition',
] as const;
export type BoshCondition = (typeof BOSH_CONDITIONS)[number];

/** XEP-0124 §19.1: the HTTP status a legacy client expects for a condition; others get 200 with the body. */
const LEGACY_STATUS: Partial<Record<BoshCondition, number>> = {
  'bad-request': 400,
  'policy-violation': 403,
  'item-not-found': 404,
};

/** HTTP status of a terminate response (§17.1, §19.1). */
export function terminateStatus(condition: BoshCondition | null, legacy: boolean): number {
  if (!legacy || condition === null) return 200;
  return LEGACY_STATUS[condition] ?? 200;
}

/**
 * The terminal condition for a stream error that ends a BOSH session. The gateway's own errors that
 * have a BOSH twin (XEP-0124 §17.2) use it; every other stream error, and any error the server sent,
 * is `remote-stream-error` with the `<stream:error/>` inside the body (XEP-0206 §6).
 */
export function boshConditionOf(streamCondition: string, fromServer: boolean): { readonly condition: BoshCondition; readonly withError: boolean } {
  if (!fromServer) {
    switch (streamCondition) {
      case 'system-shutdown':
      case 'remote-connection-failed':
      case 'host-unknown':
      case 'policy-violation':
        return { condition: streamCondition, withError: false };
    }
  }
  return { condition: 'remote-stream-error', withError: true };
}
