/**
 * A raw RFC 7395 client session for protocol-level scenarios, on top of {@link TestClient}: it sends
 * hand-written XML and parses every incoming WebSocket message with ltx, strictly: each message must
 * be exactly one complete element whose namespaces all resolve inside it (RFC 7395 §3.3.3), or the
 * session records a parse failure that {@link RawSession.assertAllParsed} turns into a test failure.
 *
 * {@link login} runs the whole RFC 6120 login (open, features, SASL, restart, bind, legacy session)
 * and returns the session with its bound full JID. Every wait is bounded in time.
 */
import { NS_FRAMING, TestClient } from './ws-client';

// ltx 3 ships no type declarations; this is the small part of its API the helpers use.
/** A parsed element (ltx `Element`). */
export interface XmlElement {
  readonly name: string;
  readonly attrs: Readonly<Record<string, string>>;
  readonly children: ReadonlyArray<XmlElement | string>;
  readonly parent: XmlElement | null;
  /** Local name, without prefix. */
  getName(): string;
  /** Namespace of the element, resolved through its ancestors; undefined if undeclared. */
  getNS(): string | undefined;
  findNS(prefix?: string): string | undefined;
  getChild(name: string, xmlns?: string): XmlElement | undefined;
  getChildren(name: string, xmlns?: string): XmlElement[];
  getChildText(name: string, xmlns?: string): string | null;
  /** Concatenated direct text children, entities decoded. */
  getText(): string;
  toString(): string;
}
interface SaxParser {
  on(event: 'startElement', cb: (name: string, attrs: Record<string, string>) => void): void;
  on(event: 'endElement', cb: (name: string) => void): void;
  on(event: 'text', cb: (text: string) => void): void;
}
interface LtxParser {
  readonly parser: SaxParser;
  on(event: 'tree', cb: (el: XmlElement) => void): void;
  on(event: 'error', cb: (err: Error) => void): void;
  write(data: string): void;
  end(): void;
}
interface LtxModule {
  Parser: new () => LtxParser;
}
const ltx = require('ltx') as LtxModule;

export const NS_CLIENT = 'jabber:client';
export const NS_STREAMS = 'http://etherx.jabber.org/streams';
export const NS_SASL = 'urn:ietf:params:xml:ns:xmpp-sasl';
export const NS_BIND = 'urn:ietf:params:xml:ns:xmpp-bind';
export const NS_SESSION = 'urn:ietf:params:xml:ns:xmpp-session';
export const NS_STANZAS = 'urn:ietf:params:xml:ns:xmpp-stanzas';
export const NS_XML = 'http://www.w3.org/XML/1998/namespace';

const DEFAULT_TIMEOUT_MS = 10_000;
/**
 * Appended to each message before parsing: ltx reports a text run only when the next `<` arrives,
 * so without a following tag, text after the root element would go unnoticed.
 */
const SENTINEL = '__raw_xmpp_end__';

/** Escapes text content (`&`, `<`, `>`); quotes stay literal, as XML allows in text. */
export function escapeText(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Escapes an attribute value for either quote style. */
export function escapeAttr(value: string): string {
  return escapeText(value).replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

/**
 * Parses one WebSocket message as RFC 7395 requires it (§3.3.3): exactly one complete element, nothing
 * before or after it (no XML declaration, no text), matching end tags, no comments or processing
 * instructions (RFC 6120 §11.1), and every element and attribute prefix declared within the message
 * itself. Throws an Error saying what is wrong.
 */
export function parseStandalone(raw: string): XmlElement {
  if (!raw.startsWith('<') || raw.startsWith('<?') || raw.startsWith('<!') || !raw.endsWith('>')) {
    throw new Error(`not a single element (must start with "<name" and end with ">"): ${JSON.stringify(raw.slice(0, 300))}`);
  }
  // RFC 6120 §11.1: no comments, processing instructions or DTDs anywhere. ltx skips them silently,
  // so look for them here (outside CDATA sections, the only place their opening chars can be text).
  const restricted = /<!--|<\?|<!DOCTYPE/i.exec(raw.replace(/<!\[CDATA\[[\s\S]*?\]\]>/g, ''));
  if (restricted !== null) throw new Error(`restricted XML (RFC 6120 §11.1): "${restricted[0]}" in ${JSON.stringify(raw.slice(0, 300))}`);
  const p = new ltx.Parser();
  const stack: string[] = [];
  let roots = 0;
  let sentinelSeen = false;
  let structural: string | null = null;
  p.parser.on('startElement', (name) => {
    if (stack.length === 0 && name === SENTINEL) sentinelSeen = true;
    else if (stack.length === 0 && ++roots > 1) structural ??= `more than one top-level element (second: <${name}>)`;
    stack.push(name);
  });
  p.parser.on('endElement', (name) => {
    const open = stack.pop();
    if (open !== name) structural ??= `end tag </${name}> does not match <${open ?? '(none)'}>`;
  });
  p.parser.on('text', (text) => {
    if (stack.length === 0 && text.length > 0) structural ??= `text outside the element: ${JSON.stringify(text.slice(0, 80))}`;
  });
  let tree: XmlElement | null = null;
  let error: Error | null = null;
  p.on('tree', (el) => {
    tree = el;
  });
  p.on('error', (err) => {
    error = err;
  });
  try {
    p.write(`${raw}<${SENTINEL}/>`);
    p.end();
  } catch (err) {
    // ltx throws from inside its handler on an illegal entity.
    error = err instanceof Error ? err : new Error(String(err));
  }
  const excerpt = JSON.stringify(raw.slice(0, 300));
  if (error !== null) throw new Error(`ltx: ${(error as Error).message} in ${excerpt}`);
  if (structural !== null) throw new Error(`${structural as string} in ${excerpt}`);
  if (tree === null || stack.length !== 0 || !sentinelSeen) throw new Error(`incomplete element ${excerpt}`);
  const undeclared = undeclaredPrefix(tree);
  if (undeclared !== null) throw new Error(`${undeclared} in ${excerpt}`);
  return tree;
}

/** The first element or attribute prefix that no ancestor declares, or null (`xml:` is predeclared). */
function undeclaredPrefix(el: XmlElement): string | null {
  const colon = el.name.indexOf(':');
  const prefix = colon < 0 ? undefined : el.name.slice(0, colon);
  if (el.findNS(prefix) === undefined) return `element <${el.name}> has no namespace declared`;
  for (const attr of Object.keys(el.attrs)) {
    const c = attr.indexOf(':');
    if (c < 0 || attr.startsWith('xmlns:')) continue;
    const ap = attr.slice(0, c);
    if (ap !== 'xml' && el.findNS(ap) === undefined) return `attribute ${attr} on <${el.name}> uses an undeclared prefix`;
  }
  for (const child of el.children) {
    if (typeof child === 'string') continue;
    const bad = undeclaredPrefix(child);
    if (bad !== null) return bad;
  }
  return null;
}

/** Does `el` have local name `name` in namespace `ns`? */
export function isElement(el: XmlElement, name: string, ns: string): boolean {
  return el.getName() === name && el.getNS() === ns;
}

/** Child elements (not text) of `el`. */
export function childElements(el: XmlElement): XmlElement[] {
  return el.children.filter((c): c is XmlElement => typeof c !== 'string');
}

/** One incoming WebSocket message: the raw text and, if it parsed, the element. */
export interface Received {
  readonly index: number;
  readonly raw: string;
  readonly el: XmlElement | null;
  readonly parseError: string | null;
}

export type Predicate = (el: XmlElement) => boolean;

export const is = {
  open: (el: XmlElement): boolean => isElement(el, 'open', NS_FRAMING),
  close: (el: XmlElement): boolean => isElement(el, 'close', NS_FRAMING),
  features: (el: XmlElement): boolean => isElement(el, 'features', NS_STREAMS),
  streamError: (el: XmlElement): boolean => isElement(el, 'error', NS_STREAMS),
  /** An `<iq>` of type result or error answering `id`. */
  iqReply: (id: string) => (el: XmlElement): boolean =>
    isElement(el, 'iq', NS_CLIENT) && el.attrs.id === id && (el.attrs.type === 'result' || el.attrs.type === 'error'),
  message: (el: XmlElement): boolean => isElement(el, 'message', NS_CLIENT),
  presence: (el: XmlElement): boolean => isElement(el, 'presence', NS_CLIENT),
};

/**
 * A client-side RFC 7395 session: every message the server sends, parsed and kept in arrival order
 * (`received`); waits take the earliest not-yet-taken element matching a predicate.
 */
export class RawSession {
  readonly received: Received[] = [];
  /** The bound full JID, once {@link login} has bound a resource. */
  jid = '';
  private readonly taken = new Set<number>();
  private waiters: Array<() => void> = [];

  constructor(readonly client: TestClient) {
    client.ws.on('message', (data: Buffer, isBinary: boolean) => {
      const raw = isBinary ? '' : data.toString('utf8');
      let el: XmlElement | null = null;
      let parseError: string | null = null;
      if (isBinary) parseError = `binary message of ${data.length} bytes (RFC 7395 §3.2 allows text only)`;
      else {
        try {
          el = parseStandalone(raw);
        } catch (err) {
          parseError = err instanceof Error ? err.message : String(err);
        }
      }
      this.received.push({ index: this.received.length, raw, el, parseError });
      this.wake();
    });
    client.ws.on('close', () => this.wake());
  }

  static async connect(url: string): Promise<RawSession> {
    return new RawSession(await TestClient.open(url));
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  get isClosed(): boolean {
    return this.client.ws.readyState === this.client.ws.CLOSED;
  }

  send(xml: string): void {
    this.client.send(xml);
  }

  /** Fails with every message that did not parse as one standalone element. */
  assertAllParsed(): void {
    const bad = this.received.filter((r) => r.parseError !== null);
    if (bad.length > 0) {
      throw new Error(`${bad.length} message(s) did not parse as one standalone element:\n${bad.map((r) => `#${r.index}: ${r.parseError}`).join('\n')}`);
    }
  }

  /** Parsed elements in arrival order. */
  elements(): XmlElement[] {
    return this.received.flatMap((r) => (r.el === null ? [] : [r.el]));
  }

  private findUntaken(pred: Predicate): Received | undefined {
    return this.received.find((r) => !this.taken.has(r.index) && r.el !== null && pred(r.el));
  }

  /**
   * The earliest element not taken before that matches `pred`; marks it taken. Rejects after `timeoutMs`,
   * or when the WebSocket closes first, or on a message that does not parse, listing what arrived.
   */
  async waitFor(pred: Predicate, what: string, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<XmlElement> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const bad = this.received.find((r) => r.parseError !== null);
      if (bad !== undefined) throw new Error(`waiting for ${what}: message #${bad.index} did not parse: ${bad.parseError}`);
      const hit = this.findUntaken(pred);
      if (hit !== undefined) {
        this.taken.add(hit.index);
        return hit.el!;
      }
      if (this.isClosed) throw new Error(`WebSocket closed before ${what}; received ${this.describe()}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; received ${this.describe()}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Waits until `count` elements matching `pred` have arrived in total (taken or not); returns them all. */
  async waitForCount(pred: Predicate, count: number, what: string, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<XmlElement[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const matching = this.elements().filter(pred);
      if (matching.length >= count) return matching;
      if (this.isClosed) throw new Error(`WebSocket closed with ${matching.length}/${count} ${what}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${timeoutMs} ms with ${matching.length}/${count} ${what}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Sends an `<iq>` (whose id must be `id`) and waits for its result or error. */
  async iq(xml: string, id: string, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<XmlElement> {
    this.send(xml);
    return this.waitFor(is.iqReply(id), `the reply to iq ${id}`, timeoutMs);
  }

  /**
   * RFC 7395 §3.6: sends `<close/>`, waits for the server's `<close/>` and for the WebSocket to close.
   * Returns the WebSocket close code.
   */
  async close(timeoutMs = DEFAULT_TIMEOUT_MS): Promise<number> {
    this.send(`<close xmlns="${NS_FRAMING}"/>`);
    await this.waitFor(is.close, 'the server <close/>', timeoutMs);
    const closed = await Promise.race([
      this.client.closed,
      new Promise<null>((resolve) => setTimeout(() => resolve(null), timeoutMs).unref()),
    ]);
    if (closed === null) throw new Error(`WebSocket still open ${timeoutMs} ms after <close/>`);
    return closed.code;
  }

  /** Closes the socket without ceremony (cleanup after a failure). */
  terminate(): void {
    this.client.ws.terminate();
  }

  /** A short readable list of what arrived, for failure messages. */
  describe(max = 20): string {
    const tail = this.received.slice(-max).map((r) => `#${r.index} ${r.raw.slice(0, 200)}`);
    return `${this.received.length} message(s)${this.received.length > max ? ` (last ${max})` : ''}:\n${tail.join('\n')}`;
  }
}

export interface LoginOptions {
  username?: string;
  password?: string;
  /** The `to` of `<open/>`: the XMPP domain. */
  domain: string;
  /** Resource to ask for; omitted → the server picks one. */
  resource?: string;
  mechanism: 'PLAIN' | 'ANONYMOUS';
  /** Bound for each single wait. @defaultValue 10 000 */
  stepTimeoutMs?: number;
}

const openXml = (domain: string): string => `<open xmlns="${NS_FRAMING}" to="${escapeAttr(domain)}" version="1.0"/>`;

/** Waits for the server's `<open/>` and then its `<stream:features/>` (RFC 7395 §3.4, RFC 6120 §4.3.2). */
async function awaitStreamStart(s: RawSession, timeoutMs: number): Promise<XmlElement> {
  await s.waitFor(is.open, 'the server <open/>', timeoutMs);
  return s.waitFor(is.features, '<stream:features/>', timeoutMs);
}

/**
 * Logs in over RFC 7395: `<open/>`, features, SASL `<auth>` (PLAIN or ANONYMOUS), `<success/>`,
 * restart `<open/>`, features, resource binding, and the legacy RFC 3921 session only when the
 * server offers it without `<optional/>`. Ids are fixed (`bind-1`, `session-1`) so transcripts of
 * two runs line up. Returns the session with `jid` set; on failure the socket is terminated.
 */
export async function login(url: string, opts: LoginOptions): Promise<RawSession> {
  const step = opts.stepTimeoutMs ?? DEFAULT_TIMEOUT_MS;
  const s = await RawSession.connect(url);
  try {
    s.send(openXml(opts.domain));
    const features = await awaitStreamStart(s, step);
    const mechanisms = features.getChild('mechanisms', NS_SASL)?.getChildren('mechanism').map((m) => m.getText()) ?? [];
    if (!mechanisms.includes(opts.mechanism)) {
      throw new Error(`server does not offer SASL ${opts.mechanism}; offered: ${mechanisms.join(', ') || '(none)'}`);
    }
    let initial: string;
    if (opts.mechanism === 'PLAIN') {
      if (opts.username === undefined || opts.password === undefined) throw new Error('PLAIN needs username and password');
      initial = Buffer.from(`\0${opts.username}\0${opts.password}`, 'utf8').toString('base64');
    } else {
      initial = Buffer.from('raw-xmpp test client', 'utf8').toString('base64'); // RFC 4505 trace
    }
    s.send(`<auth xmlns="${NS_SASL}" mechanism="${opts.mechanism}">${initial}</auth>`);
    const outcome = await s.waitFor((el) => isElement(el, 'success', NS_SASL) || isElement(el, 'failure', NS_SASL), 'SASL success', step);
    if (outcome.getName() !== 'success') throw new Error(`SASL ${opts.mechanism} failed: ${outcome.toString()}`);

    // RFC 6120 §6.4.6: after success the client restarts the stream.
    s.send(openXml(opts.domain));
    const boundFeatures = await awaitStreamStart(s, step);
    if (boundFeatures.getChild('bind', NS_BIND) === undefined) throw new Error(`no <bind/> offered after SASL: ${boundFeatures.toString()}`);
    const resource = opts.resource === undefined ? '' : `<resource>${escapeText(opts.resource)}</resource>`;
    const bound = await s.iq(`<iq xmlns="${NS_CLIENT}" type="set" id="bind-1"><bind xmlns="${NS_BIND}">${resource}</bind></iq>`, 'bind-1', step);
    const jid = bound.getChild('bind', NS_BIND)?.getChildText('jid');
    if (bound.attrs.type !== 'result' || !jid) throw new Error(`bind failed: ${bound.toString()}`);
    s.jid = jid;

    const session = boundFeatures.getChild('session', NS_SESSION);
    if (session !== undefined && session.getChild('optional') === undefined) {
      const reply = await s.iq(`<iq xmlns="${NS_CLIENT}" type="set" id="session-1"><session xmlns="${NS_SESSION}"/></iq>`, 'session-1', step);
      if (reply.attrs.type !== 'result') throw new Error(`legacy session failed: ${reply.toString()}`);
    }
    return s;
  } catch (err) {
    s.terminate();
    throw err;
  }
}

/** The bare JID of a full JID. */
export function bareJid(jid: string): string {
  const slash = jid.indexOf('/');
  return slash < 0 ? jid : jid.slice(0, slash);
}

/** Polls `condition` every `intervalMs` until it holds; rejects after `timeoutMs` with `what`. */
export async function waitUntil(condition: () => boolean, what: string, timeoutMs: number, intervalMs = 20): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
