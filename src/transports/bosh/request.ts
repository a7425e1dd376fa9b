/**
 * Reads one BOSH request body (XEP-0124 §7, §9; XEP-0206 §3, §5) with the gateway's own stream-mode
 * tokenizer: the `<body/>` start tag is the "stream header", its children are the top-level
 * elements, `</body>` the footer. No DOM; every child is bounded by --max-stanza-size while the
 * bytes are scanned. Pure: bytes in, a validated request or the reason it is a bad-request out.
 */
import { MessageTokenizer } from '../../xml/message-tokenizer';
import type { Attribute, ElementToken, TokenizerLimits } from '../../xml/tokens';
import { extendScope, localName, namespaceOf, toStandaloneElement } from '../../xml/standalone';
import { NS_CLIENT, NS_HTTPBIND, NS_XBOSH } from '../../xmpp/namespaces';
import type { BoshCondition } from './conditions';

/** XEP-0124 §5: a rid is a positive integer that never exceeds 2^53 - 1. */
const MAX_RID = Number.MAX_SAFE_INTEGER;

export interface BoshRequest {
  readonly rid: number;
  /** null: a session creation request (XEP-0124 §7.1). */
  readonly sid: string | null;
  readonly to: string | undefined;
  readonly lang: string | undefined;
  /** XEP-0124 §6: the highest protocol version the client supports; absent = a legacy client (§19). */
  readonly ver: string | undefined;
  /** XEP-0206 §3: `xmpp:version`, the XMPP stream version to ask the server for. */
  readonly xmppVersion: string | undefined;
  readonly wait: number | undefined;
  readonly hold: number | undefined;
  /** XEP-0124 §10: seconds the client asks the session to survive without requests. */
  readonly pause: number | undefined;
  /** XEP-0124 §9.1: in a creation request, `ack='1'` asks for acknowledgements in responses. */
  readonly ack: number | undefined;
  /** XEP-0206 §5: `xmpp:restart='true'` restarts the XMPP stream after SASL. */
  readonly restart: boolean;
  /** XEP-0124 §13: `type='terminate'` ends the session after the payload is delivered. */
  readonly terminate: boolean;
  /**
   * The children, each made standalone for the upstream stream: any namespace prefix the child
   * inherits from `<body/>` is declared on it, and stanzas that inherit the httpbind default
   * namespace get `jabber:client` (XEP-0206 §2 note: many clients leave it out).
   */
  readonly payload: readonly ElementToken[];
  /** Byte length of the whole request, for metrics and logs. */
  readonly bytes: number;
}

export type ParseResult =
  | { readonly ok: true; readonly request: BoshRequest }
  | { readonly ok: false; readonly condition: BoshCondition; readonly text: string };

function attr(attrs: readonly Attribute[], name: string): string | undefined {
  for (const a of attrs) if (a.name === name) return a.value;
  return undefined;
}

/** Non-negative decimal integer, or NaN. */
function nonNegative(value: string): number {
  return /^\d{1,16}$/.test(value) ? Number(value) : NaN;
}

const fail = (text: string, condition: BoshCondition = 'bad-request'): ParseResult => ({ ok: false, condition, text });

const NO_DECLARATIONS: ReadonlyMap<string, string> = new Map();
/** XEP-0206 §2 note: what children that inherit httpbind (or no default namespace) are read in. */
const CLIENT_DEFAULT: readonly Attribute[] = [{ name: 'xmlns', value: NS_CLIENT }];

/** Reads request bodies with one stream-mode tokenizer per gateway (../../xml/message-tokenizer.ts). */
export class BodyReader {
  private readonly tokenizer: MessageTokenizer;

  constructor(limits: Partial<TokenizerLimits>) {
    this.tokenizer = new MessageTokenizer(limits, 'stream');
  }

  read(bytes: Buffer): ParseResult {
    const { tokens, error } = this.tokenizer.tokenize(bytes);
    if (error !== null) {
      return fail(`not a well-formed <body/>: ${error.text}`, error.condition === 'policy-violation' ? 'policy-violation' : 'bad-request');
    }
    const first = tokens[0];
    const last = tokens[tokens.length - 1];
    if (first === undefined || first.kind !== 'stream-open') return fail('empty request: expected a <body/> element');
    if (last === undefined || last.kind !== 'stream-close') return fail('incomplete <body/>');
    if (localName(first.name) !== 'body' || namespaceOf(first, null) !== NS_HTTPBIND) {
      return fail(`the request must be a <body xmlns='${NS_HTTPBIND}'/> element (XEP-0124 §4), got <${first.name}>`);
    }
    const declared = extendScope(NO_DECLARATIONS, first.attrs);
    // Children that inherit the default namespace: httpbind (or none) means jabber:client here.
    const defaultNs = declared.get('');
    const scope = defaultNs === undefined || defaultNs === NS_HTTPBIND ? extendScope(declared, CLIENT_DEFAULT) : declared;
    const payload: ElementToken[] = [];
    for (let i = 1; i < tokens.length - 1; i++) {
      const el = tokens[i] as ElementToken;
      const standalone = toStandaloneElement(el, scope);
      if (standalone === null) return fail(`<${el.name}> uses a namespace prefix that is not declared`);
      payload.push(standalone === el.bytes ? el : new StandaloneElement(standalone, el));
    }
    return validate(first.attrs, scope, payload, bytes.length);
  }
}

/** A child with the declarations it inherited from `<body/>` added after its name (offsets before them unchanged). */
class StandaloneElement implements ElementToken {
  readonly kind = 'element' as const;
  readonly outerPrefixes: readonly string[] = [];
  constructor(
    readonly bytes: Buffer,
    private readonly source: ElementToken,
  ) {}

  get name(): string {
    return this.source.name;
  }

  get nameEnd(): number {
    return this.source.nameEnd;
  }

  get attrs(): readonly Attribute[] {
    return this.source.attrs;
  }
}

function validate(attrs: readonly Attribute[], scope: ReadonlyMap<string, string>, payload: ElementToken[], bytes: number): ParseResult {
  const ridText = attr(attrs, 'rid');
  if (ridText === undefined) return fail("missing 'rid' (XEP-0124 §7.1)");
  const rid = /^\d{1,16}$/.test(ridText) ? Number(ridText) : NaN;
  if (!(rid >= 1 && rid <= MAX_RID)) return fail(`'rid' must be an integer from 1 to 2^53-1, got ${JSON.stringify(ridText.slice(0, 30))}`);
  const sid = attr(attrs, 'sid') ?? null;
  if (sid !== null && (sid.length === 0 || sid.length > 128)) return fail("'sid' must be the session id the connection manager gave");
  const numbers: Record<'wait' | 'hold' | 'pause' | 'ack', number | undefined> = { wait: undefined, hold: undefined, pause: undefined, ack: undefined };
  for (const name of ['wait', 'hold', 'pause', 'ack'] as const) {
    const text = attr(attrs, name);
    if (text === undefined) continue;
    const n = nonNegative(text);
    if (Number.isNaN(n)) return fail(`'${name}' must be a non-negative integer, got ${JSON.stringify(text.slice(0, 30))}`);
    numbers[name] = n;
  }
  const ver = attr(attrs, 'ver');
  if (ver !== undefined && !/^\d+\.\d+$/.test(ver)) return fail(`'ver' must be MAJOR.MINOR (XEP-0124 §6), got ${JSON.stringify(ver.slice(0, 30))}`);
  // xmpp:* attributes: whatever prefix the client bound to urn:xmpp:xbosh (the tokenizer already refused unbound ones).
  let xmppVersion: string | undefined;
  let restart = false;
  for (const [p, uri] of scope) {
    if (uri !== NS_XBOSH || p === '') continue;
    xmppVersion ??= attr(attrs, `${p}:version`);
    const r = attr(attrs, `${p}:restart`);
    if (r !== undefined) restart = r === 'true' || r === '1';
  }
  const type = attr(attrs, 'type');
  const terminate = type === 'terminate';
  if (type !== undefined && !terminate) return fail(`unknown request type ${JSON.stringify(type.slice(0, 30))} (only 'terminate', XEP-0124 §13)`);
  if (sid === null) {
    if (restart) return fail("'xmpp:restart' needs the 'sid' of an existing session (XEP-0206 §5)");
    if (terminate) return fail("type='terminate' needs the 'sid' of an existing session");
    const to = attr(attrs, 'to');
    if (to === undefined || to.length === 0) return fail("a session creation request needs 'to', the XMPP domain (XEP-0124 §7.1)", 'improper-addressing');
  }
  return {
    ok: true,
    request: {
      rid, sid, to: attr(attrs, 'to'), lang: attr(attrs, 'xml:lang'), ver, xmppVersion,
      wait: numbers.wait, hold: numbers.hold, pause: numbers.pause, ack: numbers.ack,
      restart, terminate, payload, bytes,
    },
  };
}
