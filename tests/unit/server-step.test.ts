import { serverStep, type ServerStep } from '../../src/session/server-step';
import type { NamespaceScope } from '../../src/xml/standalone';
import { XmlTokenizer } from '../../src/xml/tokenizer';
import type { Token } from '../../src/xml/tokens';

const HEADER =
  "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' id='s1' from='example.org' version='1.0'>";

/** Runs a whole server stream through the real tokenizer and the step, as the session does. */
function run(xml: string, standalone = true): Array<{ token: Token; step: ServerStep }> {
  const t = new XmlTokenizer('stream');
  const { tokens, error } = t.feed(Buffer.from(xml));
  expect(error).toBeNull();
  let scope: NamespaceScope | null = null;
  return tokens.map((token) => {
    const step = serverStep(token, scope, standalone);
    if (!Buffer.isBuffer(step) && step.kind === 'open') scope = step.scope;
    return { token, step };
  });
}

const text = (step: ServerStep): string => (Buffer.isBuffer(step) ? step.toString() : step.kind === 'element' ? step.bytes.toString() : step.kind);

describe('serverStep: one server token → what the client gets', () => {
  it('the header opens with its scope; a stanza is relayed standalone as bare bytes', () => {
    const [open, msg] = run(`${HEADER}<message to='a@b'><body>hi</body></message>`);
    expect(open!.step).toMatchObject({ kind: 'open' });
    expect(Buffer.isBuffer(msg!.step)).toBe(true);
    expect(text(msg!.step)).toBe(`<message xmlns="jabber:client" to='a@b'><body>hi</body></message>`);
  });
  it('legacy (a continuous stream): elements go as they are', () => {
    const [, msg] = run(`${HEADER}<message to='a@b'/>`, false);
    expect(text(msg!.step)).toBe(`<message to='a@b'/>`);
  });
  it('a stream header in another namespace, or an element before any header, is bad XML', () => {
    expect(run("<stream:stream xmlns:stream='urn:other'>")[0]!.step).toMatchObject({ kind: 'bad-xml', condition: 'invalid-namespace' });
    const [msg] = new XmlTokenizer('fragment').feed(Buffer.from('<message/>')).tokens;
    expect(serverStep(msg!, null, true)).toMatchObject({ kind: 'bad-xml', condition: 'not-well-formed' });
  });
  it('a stream error is noticed and relayed standalone', () => {
    const [, err] = run(`${HEADER}<stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>`);
    expect(err!.step).toMatchObject({ kind: 'element', streamError: 'conflict', saslSuccess: false });
    expect(text(err!.step)).toContain('xmlns:stream="http://etherx.jabber.org/streams"');
  });
  it('SASL <success/> is noticed whatever its prefix (RFC 6120 §6.4.6)', () => {
    const plain = run(`${HEADER}<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>`)[1]!.step;
    expect(plain).toMatchObject({ kind: 'element', saslSuccess: true });
    const prefixed = run(`${HEADER}<sasl:success xmlns:sasl='urn:ietf:params:xml:ns:xmpp-sasl'/>`)[1]!.step;
    expect(prefixed).toMatchObject({ kind: 'element', saslSuccess: true });
    const onHeader = run(
      "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' xmlns:sasl='urn:ietf:params:xml:ns:xmpp-sasl'><sasl:success/>",
    )[1]!.step;
    expect(onHeader).toMatchObject({ kind: 'element', saslSuccess: true });
    // A <success/> in another namespace is just an element.
    expect(Buffer.isBuffer(run(`${HEADER}<success xmlns='urn:example'/>`)[1]!.step)).toBe(true);
  });
  it('STARTTLS is hidden from the features; required STARTTLS stops the session', () => {
    const [, features] = run(`${HEADER}<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>`);
    expect(text(features!.step)).not.toContain('starttls');
    expect(text(features!.step)).toContain('bind');
    const [, required] = run(`${HEADER}<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>`);
    expect(required!.step).toMatchObject({ kind: 'requires-tls' });
  });
  it('the footer ends the stream', () => {
    const steps = run(`${HEADER}</stream:stream>`);
    expect(steps[1]!.step).toMatchObject({ kind: 'end' });
  });
});
