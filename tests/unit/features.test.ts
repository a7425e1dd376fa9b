/**
 * Elements the gateway inspects inside the server's stream are found by namespace, wherever the
 * prefix or default namespace was declared: on the element, on its parent, or on the stream header.
 */
import { rewriteFeatures } from '../../src/xmpp/features';
import { streamErrorConditionOf } from '../../src/xmpp/stream-error';
import { namespaceScope } from '../../src/xml/standalone';
import { XmlTokenizer } from '../../src/xml/tokenizer';
import type { ElementToken, StreamOpenToken } from '../../src/xml/tokens';

const NS = "xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'";
const TLS = 'urn:ietf:params:xml:ns:xmpp-tls';

/** The stream header's scope and the first element after it, through the real tokenizer. */
function serverElement(header: string, element: string): { el: ElementToken; scope: ReturnType<typeof namespaceScope> } {
  const t = new XmlTokenizer('stream');
  const { tokens, error } = t.feed(Buffer.from(header + element));
  expect(error).toBeNull();
  const [open, el] = tokens as [StreamOpenToken, ElementToken];
  return { el, scope: namespaceScope(open) };
}

const MECHS = "<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms>";

describe('rewriteFeatures: <starttls/> wherever its namespace is declared', () => {
  const placements: Array<[string, string, string]> = [
    ['its own default namespace', `<stream:stream ${NS}>`, `<stream:features><starttls xmlns='${TLS}'/>${MECHS}</stream:features>`],
    ['its own prefix', `<stream:stream ${NS}>`, `<stream:features><tls:starttls xmlns:tls='${TLS}'/>${MECHS}</stream:features>`],
    ['a prefix declared on <stream:features>', `<stream:stream ${NS}>`, `<stream:features xmlns:tls='${TLS}'><tls:starttls/>${MECHS}</stream:features>`],
    ['a default namespace declared on <stream:features>', `<stream:stream ${NS}>`, `<stream:features xmlns='${TLS}'><starttls/><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/></stream:features>`],
    ['a prefix declared on the stream header', `<stream:stream ${NS} xmlns:tls='${TLS}'>`, `<stream:features><tls:starttls/>${MECHS}</stream:features>`],
    ['the default namespace of the stream header', `<stream:stream xmlns='${TLS}' xmlns:stream='http://etherx.jabber.org/streams'>`, `<stream:features><starttls/><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/></stream:features>`],
  ];

  it.each(placements)('is removed when in %s', (_what, header, features) => {
    const { el, scope } = serverElement(header, features);
    const r = rewriteFeatures(el, scope);
    expect(r.kind).toBe('rewritten');
    if (r.kind !== 'rewritten') return;
    expect(r.bytes.toString()).not.toMatch(/starttls/);
    expect(r.bytes.toString()).toMatch(/mechanisms/);
  });

  const required: Array<[string, string, string]> = [
    ['on the element', `<stream:stream ${NS}>`, `<stream:features><starttls xmlns='${TLS}'><required/></starttls></stream:features>`],
    ['with a prefix declared on the stream header', `<stream:stream ${NS} xmlns:tls='${TLS}'>`, '<stream:features><tls:starttls><tls:required/></tls:starttls></stream:features>'],
    ['with a prefix declared on <stream:features>', `<stream:stream ${NS}>`, `<stream:features xmlns:t='${TLS}'><t:starttls><t:required/></t:starttls></stream:features>`],
  ];
  it.each(required)('reports <required/> %s', (_what, header, features) => {
    const { el, scope } = serverElement(header, features);
    expect(rewriteFeatures(el, scope)).toEqual({ kind: 'starttls-required' });
  });

  it('leaves elements named starttls in another namespace alone', () => {
    const { el, scope } = serverElement(`<stream:stream ${NS} xmlns:x='urn:example'>`, '<stream:features><x:starttls/><starttls/></stream:features>');
    expect(rewriteFeatures(el, scope)).toEqual({ kind: 'unchanged' });
  });
});

describe('streamErrorConditionOf: the condition wherever its namespace is declared', () => {
  const STREAMS = 'urn:ietf:params:xml:ns:xmpp-streams';
  it.each([
    ['on the condition', `<stream:stream ${NS}>`, `<stream:error><conflict xmlns='${STREAMS}'/></stream:error>`],
    ['as a prefix on the stream header', `<stream:stream ${NS} xmlns:e='${STREAMS}'>`, '<stream:error><e:conflict/><e:text>x</e:text></stream:error>'],
    ['as a default namespace on the error', `<stream:stream ${NS}>`, `<stream:error xmlns='${STREAMS}'><text>why</text><conflict/></stream:error>`],
  ])('finds it %s', (_what, header, error) => {
    const { el, scope } = serverElement(header, error);
    expect(streamErrorConditionOf(el, scope)).toBe('conflict');
  });
  it('prefers a condition in the streams namespace; undefined-condition when there is none', () => {
    const { el, scope } = serverElement(`<stream:stream ${NS}>`, `<stream:error><reset xmlns='urn:example'/><host-gone xmlns='${STREAMS}'/></stream:error>`);
    expect(streamErrorConditionOf(el, scope)).toBe('host-gone');
    const none = serverElement(`<stream:stream ${NS}>`, '<stream:error><oops/></stream:error>');
    expect(streamErrorConditionOf(none.el, none.scope)).toBe('undefined-condition');
  });
});
