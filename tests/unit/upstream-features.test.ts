import { XmlTokenizer } from '../../src/xml/tokenizer';
import type { ElementToken, StreamOpenToken } from '../../src/xml/tokens';
import { namespaceScope } from '../../src/xml/standalone';
import { isClientStartTls, startTlsOffer, stripChannelBinding } from '../../src/xmpp/features';
import { MessageTokenizer } from '../../src/xml/message-tokenizer';

const HEADER = "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' xmlns:tls='urn:ietf:params:xml:ns:xmpp-tls' xmlns:sasl='urn:ietf:params:xml:ns:xmpp-sasl'>";

function features(xml: string) {
  const t = new XmlTokenizer('stream', {});
  const { tokens, error } = t.feed(Buffer.from(HEADER + xml));
  expect(error).toBeNull();
  const scope = namespaceScope(tokens[0] as StreamOpenToken);
  return { el: tokens[1] as ElementToken, scope };
}

describe('STARTTLS offer, whatever the prefixes', () => {
  it.each([
    ["<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>", true, true],
    ["<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/></stream:features>", true, false],
    ['<stream:features><tls:starttls><tls:required/></tls:starttls></stream:features>', true, true],
    ["<stream:features xmlns:t='urn:ietf:params:xml:ns:xmpp-tls'><t:starttls/></stream:features>", true, false],
    ["<stream:features><starttls xmlns='urn:example:not-tls'><required/></starttls></stream:features>", false, false],
    ['<stream:features/>', false, false],
  ])('%s', (xml, offered, required) => {
    const { el, scope } = features(xml);
    expect(startTlsOffer(el, scope)).toEqual({ offered, required });
  });
});

describe('channel binding never crosses the gateway', () => {
  it('drops SCRAM-*-PLUS and XEP-0440, keeps the rest byte for byte', () => {
    const xml = "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>SCRAM-SHA-256-PLUS</mechanism><mechanism>SCRAM-SHA-256</mechanism><mechanism>SCRAM-SHA-1-PLUS</mechanism><mechanism>PLAIN</mechanism></mechanisms><sasl-channel-binding xmlns='urn:xmpp:sasl-cb:0'><channel-binding type='tls-exporter'/></sasl-channel-binding><register xmlns='http://jabber.org/features/iq-register'/></stream:features>";
    const { el, scope } = features(xml);
    expect(stripChannelBinding(el, scope)!.toString()).toBe("<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>SCRAM-SHA-256</mechanism><mechanism>PLAIN</mechanism></mechanisms><register xmlns='http://jabber.org/features/iq-register'/></stream:features>");
  });
  it('with prefixes from the stream header, and inside SASL2 <authentication/>', () => {
    const xml = "<stream:features><sasl:mechanisms><sasl:mechanism> SCRAM-SHA-1-PLUS </sasl:mechanism><sasl:mechanism>SCRAM-SHA-1</sasl:mechanism></sasl:mechanisms><authentication xmlns='urn:xmpp:sasl:2'><mechanism>SCRAM-SHA-256-PLUS</mechanism><mechanism>PLAIN</mechanism></authentication></stream:features>";
    const { el, scope } = features(xml);
    expect(stripChannelBinding(el, scope)!.toString()).toBe("<stream:features><sasl:mechanisms><sasl:mechanism>SCRAM-SHA-1</sasl:mechanism></sasl:mechanisms><authentication xmlns='urn:xmpp:sasl:2'><mechanism>PLAIN</mechanism></authentication></stream:features>");
  });
  it('nothing to strip: null (the bytes stay as they are)', () => {
    const { el, scope } = features("<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>");
    expect(stripChannelBinding(el, scope)).toBeNull();
  });
  it('a -plus name in any case is found (the byte pre-check is case-insensitive, like the name test)', () => {
    const { el, scope } = features("<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>scram-sha-1-Plus</mechanism><mechanism>PLAIN</mechanism></mechanisms></stream:features>");
    expect(stripChannelBinding(el, scope)!.toString()).toBe("<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>");
  });
  it('XEP-0440 alone, with a prefix, is found', () => {
    const { el, scope } = features("<stream:features><cb:sasl-channel-binding xmlns:cb='urn:xmpp:sasl-cb:0'><cb:channel-binding type='tls-exporter'/></cb:sasl-channel-binding></stream:features>");
    expect(stripChannelBinding(el, scope)!.toString()).toBe('<stream:features></stream:features>');
  });
  it('a <mechanism> named -PLUS outside the SASL namespace is left alone', () => {
    const { el, scope } = features("<stream:features><mechanisms xmlns='urn:example'><mechanism>X-PLUS</mechanism></mechanisms></stream:features>");
    expect(stripChannelBinding(el, scope)).toBeNull();
  });
});

describe("a client's <starttls/>", () => {
  const m = new MessageTokenizer({ maxElementBytes: 10000, maxDepth: 10 });
  const el = (xml: string) => m.tokenize(Buffer.from(xml)).tokens[0] as ElementToken;
  it('is recognised with any prefix', () => {
    expect(isClientStartTls(el("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"))).toBe(true);
    expect(isClientStartTls(el("<t:starttls xmlns:t='urn:ietf:params:xml:ns:xmpp-tls'/>"))).toBe(true);
    expect(isClientStartTls(el("<starttls xmlns='urn:example'/>"))).toBe(false);
    expect(isClientStartTls(el("<message xmlns='jabber:client'/>"))).toBe(false);
  });
});
