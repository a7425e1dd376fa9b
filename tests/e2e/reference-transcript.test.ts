/**
 * Prosody as the reference: one raw RFC 7395 scenario (login with PLAIN, roster, presence, messages
 * to the own bare and full JID, disco#info, an iq to a JID that does not exist, close) runs once
 * against Prosody's own mod_websocket and once through the gateway to the same Prosody's c2s port.
 * The client must see the same elements in the same order both ways. Elements are compared parsed
 * (local name, resolved namespace, attributes without xmlns declarations, children, text), so
 * attribute order, quote style and where a namespace is declared do not count; the few values that
 * legitimately differ between two logins are listed in NORMALIZED below, each with its reason.
 */
import type { ProsodyInstance } from '../../tools/demo/prosody';
import { useProsodyBehindGateway } from '../helpers/gateway';
import {
  NS_CLIENT,
  NS_XML,
  bareJid,
  escapeText,
  is,
  login,
  waitUntil,
  type RawSession,
  type XmlElement,
} from '../helpers/raw-xmpp';

const BODY_TO_BARE = 'héllo 🌍 <&>"\' to bare';
const BODY_TO_FULL = 'réponse ✓ 🌎 <&>"\' to full';

/** What one run of the scenario saw. */
interface Transcript {
  readonly session: RawSession;
  readonly closeCode: number;
}

/**
 * The scenario. Each step waits for its answer before the next starts, so the order of what the
 * client sees is fixed by the protocol, not by timing. Client ids are the same in both runs.
 */
async function runScenario(url: string, prosody: ProsodyInstance): Promise<Transcript> {
  const alice = prosody.accounts[0]!;
  const domain = prosody.domain;
  const s = await login(url, { username: alice.username, password: alice.password, domain, mechanism: 'PLAIN' });
  try {
    await s.iq(`<iq xmlns="${NS_CLIENT}" type="get" id="roster-1"><query xmlns="jabber:iq:roster"/></iq>`, 'roster-1');
    // RFC 6121 §4.2.2: the server sends the initial presence back to the user's own resource.
    s.send(`<presence xmlns="${NS_CLIENT}" id="pres-1"/>`);
    await s.waitFor((el) => is.presence(el) && el.attrs.id === 'pres-1', 'own initial presence');
    s.send(`<message xmlns="${NS_CLIENT}" type="chat" id="msg-bare" to="${bareJid(s.jid)}"><body>${escapeText(BODY_TO_BARE)}</body></message>`);
    await s.waitFor((el) => is.message(el) && el.attrs.id === 'msg-bare', 'the message to the own bare JID');
    s.send(`<message xmlns="${NS_CLIENT}" type="chat" id="msg-full" to="${s.jid}"><body>${escapeText(BODY_TO_FULL)}</body></message>`);
    await s.waitFor((el) => is.message(el) && el.attrs.id === 'msg-full', 'the message to the own full JID');
    await s.iq(`<iq xmlns="${NS_CLIENT}" type="get" id="disco-1" to="${domain}"><query xmlns="http://jabber.org/protocol/disco#info"/></iq>`, 'disco-1');
    await s.iq(`<iq xmlns="${NS_CLIENT}" type="get" id="ghost-1" to="nobody@${domain}"><query xmlns="jabber:iq:version"/></iq>`, 'ghost-1');
    const closeCode = await s.close();
    return { session: s, closeCode };
  } catch (err) {
    s.terminate();
    throw err;
  }
}

/** Where a value sits: an attribute (`attr` set) or a text run (`attr` null) of element `el`. */
interface ValueSite {
  readonly el: XmlElement;
  readonly attr: string | null;
  /** The bound full JID of this run. */
  readonly fullJid: string;
}

/**
 * Values that differ between any two logins, whoever relays them, and how each is blanked. Nothing
 * else is normalized: every other name, namespace, attribute and text must be equal.
 */
const NORMALIZED: ReadonlyArray<{ what: string; why: string; blank: (value: string, at: ValueSite) => string }> = [
  {
    what: '`id` of `<open/>`',
    why: 'each stream gets a fresh random stream id (RFC 6120 §4.7.3)',
    blank: (v, at) => (at.attr === 'id' && is.open(at.el) ? '{stream-id}' : v),
  },
  {
    what: 'the bound full JID, wherever it appears (attribute values, `<jid>` text)',
    why: 'no resource is requested, so the server picks a random one per login (RFC 6120 §7.6)',
    blank: (v, at) => v.split(at.fullJid).join('{full-jid}'),
  },
  {
    what: '`stamp` of `<delay xmlns="urn:xmpp:delay"/>` (none expected in this scenario; blanked should one appear)',
    why: 'a timestamp of when the server handled the stanza (XEP-0203)',
    blank: (v, at) => (at.attr === 'stamp' && at.el.getName() === 'delay' && at.el.getNS() === 'urn:xmpp:delay' ? '{timestamp}' : v),
  },
];

/*
 * Differences allowed between Prosody's endpoint and the gateway, beyond NORMALIZED: none.
 * - SASL mechanisms, the obvious candidate, do not differ here: the private Prosody sets
 *   consider_websocket_secure and allow_unencrypted_plain_auth, so both endpoints offer SCRAM-SHA-1
 *   and PLAIN. A change of either setting would show up here and must then be listed with its reason.
 * - STARTTLS would be stripped by the gateway (src/xmpp/features.ts), but mod_tls is not loaded, so
 *   neither endpoint offers it.
 * - Prosody's endpoint declares xmlns='jabber:client' on <stream:features/> and the gateway does not;
 *   that is declaration placement, which the parsed comparison ignores by design (every child there
 *   declares its own namespace, so resolved namespaces are equal).
 */

/**
 * One element as a canonical, comparable string: `{namespace}local`, attributes sorted by
 * `{namespace}local` (unprefixed attributes have no namespace) with xmlns declarations dropped,
 * children in order, text JSON-quoted with adjacent text runs merged; values passed through NORMALIZED.
 */
function canonical(el: XmlElement, fullJid: string): string {
  const normalize = (value: string, attr: string | null): string =>
    NORMALIZED.reduce((v, n) => n.blank(v, { el, attr, fullJid }), value);
  const attrs: Array<[string, string]> = [];
  for (const [name, value] of Object.entries(el.attrs)) {
    if (name === 'xmlns' || name.startsWith('xmlns:')) continue;
    const colon = name.indexOf(':');
    const prefix = colon < 0 ? null : name.slice(0, colon);
    const key = prefix === null ? name : `{${prefix === 'xml' ? NS_XML : el.findNS(prefix)}}${name.slice(colon + 1)}`;
    attrs.push([key, normalize(value, name)]);
  }
  attrs.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const head = `{${el.getNS() ?? '(none)'}}${el.getName()}${attrs.map(([k, v]) => ` ${k}=${JSON.stringify(v)}`).join('')}`;
  const parts: Array<{ text: string } | { element: string }> = [];
  for (const child of el.children) {
    const last = parts.at(-1);
    if (typeof child !== 'string') parts.push({ element: canonical(child, fullJid) });
    else if (last !== undefined && 'text' in last) last.text += child;
    else parts.push({ text: child });
  }
  const body = parts.map((p) => ('text' in p ? JSON.stringify(normalize(p.text, null)) : p.element)).join('');
  return body === '' ? `<${head}/>` : `<${head}>${body}</>`;
}

function canonicalTranscript(t: Transcript): string[] {
  t.session.assertAllParsed();
  return t.session.elements().map((el) => canonical(el, t.session.jid));
}

describe("Prosody's own WebSocket endpoint as the reference for the gateway", () => {
  const stack = useProsodyBehindGateway();

  it('the client sees the same elements, in the same order, directly and through the gateway', async () => {
    // One after the other with the same account, so neither run sees the other's presence.
    const direct = await runScenario(stack.prosody.websocketUrl, stack.prosody);
    const viaGateway = await runScenario(stack.gw.url, stack.prosody);

    const expected = canonicalTranscript(direct);
    const actual = canonicalTranscript(viaGateway);

    // The reference itself is what the scenario should produce, so an empty or truncated pair of
    // transcripts cannot pass by being equal.
    expect(direct.session.elements().map((el) => el.getName())).toEqual([
      'open', 'features', 'success', 'open', 'features', 'iq', 'iq', 'presence', 'message', 'message', 'iq', 'iq', 'close',
    ]);
    const bodyOf = (t: Transcript, id: string): string | null | undefined =>
      t.session.elements().find((el) => is.message(el) && el.attrs.id === id)?.getChildText('body');
    expect([bodyOf(direct, 'msg-bare'), bodyOf(direct, 'msg-full')]).toEqual([BODY_TO_BARE, BODY_TO_FULL]);
    expect(direct.session.elements().at(-2)!.getChild('error')?.getChild('service-unavailable', 'urn:ietf:params:xml:ns:xmpp-stanzas')).toBeDefined();

    expect(actual).toEqual(expected);
    expect(viaGateway.closeCode).toBe(direct.closeCode);
    await waitUntil(() => stack.gw.gateway.sessionCount === 0, 'the gateway has no sessions left', 5_000);
  });
});
