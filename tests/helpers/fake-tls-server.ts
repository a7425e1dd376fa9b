/**
 * Fake c2s servers that speak TLS, built on tests/helpers/fake-server.ts: STARTTLS (required or
 * optional) followed by the minimal login flow over TLS, direct TLS (XEP-0368), and scripted
 * misbehaviour in the middle of the negotiation.
 */
import * as tls from 'node:tls';
import { FakeConnection, FakeServer, SERVER_HEADER, minimalServer, type Behaviour } from './fake-server';
import type { ServerCert } from './certs';

export const FEATURES_TLS_REQUIRED = "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>";
/** What ejabberd 23.01 offers over TLS: SCRAM with and without channel binding, XEP-0440's list. */
export const FEATURES_WITH_PLUS =
  "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>SCRAM-SHA-256-PLUS</mechanism><mechanism>SCRAM-SHA-256</mechanism><mechanism>SCRAM-SHA-1-PLUS</mechanism><mechanism>PLAIN</mechanism></mechanisms><sasl-channel-binding xmlns='urn:xmpp:sasl-cb:0'><channel-binding type='tls-exporter'/><channel-binding type='tls-server-end-point'/></sasl-channel-binding></stream:features>";

export interface TlsFake {
  readonly server: FakeServer;
  /** The connections as seen after TLS, in order. */
  readonly secure: FakeConnection[];
  /** ALPN protocol each TLS connection negotiated. */
  readonly alpn: (string | false | null)[];
}

/**
 * STARTTLS with `preFeatures` (must offer starttls), then TLS with `cert`, then `minimalServer(postFeatures)`.
 * `after` decides what happens once `<starttls/>` arrives: proceed (default), or close mid-negotiation.
 */
export async function startTlsFake(cert: ServerCert, opts: { preFeatures?: string; postFeatures?: string; onStartTls?: 'proceed' | 'close-before-proceed' | 'close-after-proceed' } = {}): Promise<TlsFake> {
  const secure: FakeConnection[] = [];
  const alpn: (string | false | null)[] = [];
  const behaviour: Behaviour = (conn) => {
    let stage: 'header' | 'starttls' | 'tls' = 'header';
    const onData = (): void => {
      if (stage === 'header' && /<stream:stream[^>]*>/.test(conn.received)) {
        stage = 'starttls';
        conn.write(SERVER_HEADER('pre') + (opts.preFeatures ?? FEATURES_TLS_REQUIRED));
      }
      if (stage === 'starttls' && /<starttls[^>]*\/>/.test(conn.received)) {
        stage = 'tls';
        conn.socket.removeListener('data', onData);
        const mode = opts.onStartTls ?? 'proceed';
        if (mode === 'close-before-proceed') return void conn.socket.destroy();
        conn.socket.write("<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
        if (mode === 'close-after-proceed') return void conn.socket.end();
        const tlsSocket = new tls.TLSSocket(conn.socket, { isServer: true, key: cert.key, cert: cert.cert });
        tlsSocket.on('error', () => undefined);
        tlsSocket.once('secure', () => alpn.push(tlsSocket.alpnProtocol));
        const inner = new FakeConnection(tlsSocket);
        secure.push(inner);
        minimalServer(opts.postFeatures ?? FEATURES_WITH_PLUS)(inner);
      }
    };
    conn.socket.on('data', onData);
  };
  return { server: await FakeServer.start(behaviour), secure, alpn };
}

/** Direct TLS from the first byte (XEP-0368), ALPN xmpp-client offered, then the minimal flow. */
export async function startDirectTlsFake(cert: ServerCert, postFeatures = FEATURES_WITH_PLUS): Promise<TlsFake> {
  const secure: FakeConnection[] = [];
  const alpn: (string | false | null)[] = [];
  const behaviour: Behaviour = (conn) => {
    conn.socket.removeAllListeners('data');
    const tlsSocket = new tls.TLSSocket(conn.socket, { isServer: true, key: cert.key, cert: cert.cert, ALPNProtocols: ['xmpp-client'] });
    tlsSocket.on('error', () => undefined);
    tlsSocket.once('secure', () => alpn.push(tlsSocket.alpnProtocol));
    const inner = new FakeConnection(tlsSocket);
    secure.push(inner);
    minimalServer(postFeatures)(inner);
  };
  return { server: await FakeServer.start(behaviour), secure, alpn };
}
