/**
 * Builds BOSH response bodies (XEP-0124 §7.2, §8, §17; XEP-0206 §3, §4, §6). Pure.
 *
 * Every response is one well-formed `<body xmlns='http://jabber.org/protocol/httpbind'>` holding
 * whole elements that were already made standalone by the session core (stanzas carry
 * `xmlns='jabber:client'`, `<stream:features/>` and `<stream:error/>` declare `xmlns:stream`).
 * XEP-0206 §2 also asks the `<body/>` itself to declare `xmlns:stream` when it carries stream
 * elements, so a non-empty body always does.
 */
import { escapeAttr } from '../../xml/escape';
import { NS_HTTPBIND, NS_STREAMS, NS_XBOSH } from '../../xmpp/namespaces';
import type { BoshCondition } from './conditions';

/** The BOSH protocol version the gateway implements (XEP-0124 §6). */
export const BOSH_VERSION = '1.11';

export type BodyAttrs = ReadonlyArray<readonly [name: string, value: string | number | undefined]>;

const OPEN = Buffer.from(`<body xmlns='${NS_HTTPBIND}'`);

/** `<body …attrs>children</body>`, or `<body …attrs/>` when there are none. */
export function bodyXml(attrs: BodyAttrs, children: readonly Buffer[] = []): Buffer {
  let head = '';
  let xbosh = false;
  for (const [name, value] of attrs) {
    if (value === undefined) continue;
    if (name.startsWith('xmpp:')) xbosh = true;
    head += ` ${name}='${escapeAttr(String(value))}'`;
  }
  if (xbosh) head = ` xmlns:xmpp='${NS_XBOSH}'${head}`;
  if (children.length === 0) return Buffer.concat([OPEN, Buffer.from(`${head}/>`)]);
  head = ` xmlns:stream='${NS_STREAMS}'${head}>`;
  return Buffer.concat([OPEN, Buffer.from(head), ...children, Buffer.from('</body>')]);
}

/** What the session creation response announces (XEP-0124 §7.2, XEP-0206 §3). */
export interface CreationAttrs {
  readonly sid: string;
  /** Seconds, after capping the client's request at --bosh-max-wait. */
  readonly wait: number;
  readonly hold: number;
  /** Shortest allowed polling interval, seconds. */
  readonly polling: number;
  /** Seconds without a request before the session ends. */
  readonly inactivity: number;
  /** Longest pause allowed (§10), seconds; undefined when pausing is off. */
  readonly maxpause: number | undefined;
  /** The lower of the client's `ver` and ours; undefined for a legacy client (§19). */
  readonly ver: string | undefined;
  /** The XMPP domain, from the server's stream header. */
  readonly from: string | undefined;
  /** The server's stream id (XEP-0206 §3). */
  readonly authid: string | undefined;
  /** Whether the connection manager's link to the server is secure (XEP-0124 §7.2). */
  readonly secure: boolean;
  /** Acknowledge rids in responses (XEP-0124 §9.1), when the client asked. */
  readonly ack: number | undefined;
}

/** XEP-0124 §7.2: `requests` is hold + 1, the number of requests the client may have in flight. */
export function creationBody(c: CreationAttrs, children: readonly Buffer[]): Buffer {
  return bodyXml(
    [
      ['sid', c.sid], ['wait', c.wait], ['requests', c.hold + 1], ['hold', c.hold], ['polling', c.polling],
      ['inactivity', c.inactivity], ['maxpause', c.maxpause], ['ver', c.ver], ['from', c.from], ['authid', c.authid],
      ['secure', c.secure ? 'true' : 'false'], ['ack', c.ack], ['xmpp:version', '1.0'], ['xmpp:restartlogic', 'true'],
    ],
    children,
  );
}

/**
 * `<body type='terminate'/>`, with a condition when the session ends in error (§17.2). For
 * `remote-stream-error` the server's `<stream:error/>` goes inside (XEP-0206 §6). Stanzas never do:
 * the session sends them in an ordinary body first (see BoshSession.respondAll).
 */
export function terminateBody(condition: BoshCondition | null, children: readonly Buffer[] = [], extra: BodyAttrs = []): Buffer {
  return bodyXml([['type', 'terminate'], ['condition', condition ?? undefined], ...extra], children);
}

/** The lower of two MAJOR.MINOR versions (XEP-0124 §6: the connection manager answers with the highest both support). */
export function negotiateVersion(client: string | undefined): string | undefined {
  if (client === undefined) return undefined;
  const [cMaj, cMin] = client.split('.').map(Number) as [number, number];
  const [oMaj, oMin] = BOSH_VERSION.split('.').map(Number) as [number, number];
  return cMaj < oMaj || (cMaj === oMaj && cMin < oMin) ? client : BOSH_VERSION;
}
