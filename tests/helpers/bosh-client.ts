/**
 * A raw BOSH client for protocol tests (XEP-0124/XEP-0206): plain HTTP POSTs over node:http, one
 * agent with keep-alive so requests can overlap like a browser's, every body parsed with ltx.
 */
import * as http from 'node:http';
import * as https from 'node:https';
import * as ltx from 'ltx';

export const NS_HTTPBIND = 'http://jabber.org/protocol/httpbind';
export const BODY_NS = `xmlns='${NS_HTTPBIND}' xmlns:xmpp='urn:xmpp:xbosh'`;

export interface BoshReply {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly text: string;
  /** The parsed `<body/>`, or null when the reply is not XML. */
  readonly body: ltx.Element | null;
}

/** POSTs `xml` to `url`; bounded by `timeoutMs`. */
export function boshPost(url: string, xml: string | Buffer, opts: { headers?: http.OutgoingHttpHeaders; agent?: http.Agent; timeoutMs?: number; method?: string } = {}): Promise<BoshReply> {
  return new Promise((resolve, reject) => {
    const data = typeof xml === 'string' ? Buffer.from(xml) : xml;
    // https:// in the proxy tests, with their throwaway self-signed certificate.
    const request = url.startsWith('https:') ? https.request : http.request;
    const req = request(url, {
      rejectUnauthorized: false,
      method: opts.method ?? 'POST',
      agent: opts.agent,
      timeout: opts.timeoutMs ?? 20_000,
      headers: { 'Content-Type': 'text/xml; charset=utf-8', 'Content-Length': data.length, ...opts.headers },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let body: ltx.Element | null = null;
        try {
          body = text.startsWith('<') ? ltx.parse(text) : null;
        } catch {
          body = null;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, body });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`POST ${url}: no answer in ${opts.timeoutMs ?? 20_000} ms`)));
    req.on('error', reject);
    req.end(data);
  });
}

/** A BOSH session driven step by step: rids count up from a random start. */
export class BoshSessionClient {
  sid = '';
  rid: number;
  creation: ltx.Element | null = null;
  readonly agent: http.Agent;

  constructor(readonly url: string, readonly domain = 'localhost', startRid = 1000 + Math.floor(Math.random() * 1e6)) {
    this.rid = startRid;
    this.agent = url.startsWith('https:') ? new https.Agent({ keepAlive: true, maxSockets: 4, rejectUnauthorized: false }) : new http.Agent({ keepAlive: true, maxSockets: 4 });
  }

  /** Session creation (XEP-0206 §3); returns the creation response. */
  async create(extra = "wait='10' hold='1' ver='1.6'"): Promise<BoshReply> {
    const reply = await this.post(`<body rid='${this.rid++}' to='${this.domain}' xml:lang='en' xmpp:version='1.0' ${extra} ${BODY_NS}/>`);
    this.creation = reply.body;
    this.sid = reply.body?.attrs.sid ?? '';
    return reply;
  }

  /** The next request carrying `payload`; `attrs` adds body attributes. */
  send(payload = '', attrs = ''): Promise<BoshReply> {
    return this.post(`<body rid='${this.rid++}' sid='${this.sid}' ${attrs} ${BODY_NS}>${payload}</body>`);
  }

  post(xml: string, headers: http.OutgoingHttpHeaders = {}): Promise<BoshReply> {
    return boshPost(this.url, xml, { agent: this.agent, headers });
  }

  /** Keeps sending empty requests until a response holds a child matching `pred` (bounded). */
  async until(pred: (el: ltx.Element) => boolean, max = 10): Promise<ltx.Element> {
    for (let i = 0; i < max; i++) {
      const reply = await this.send();
      const hit = reply.body?.children.find((c): c is ltx.Element => typeof c !== 'string' && pred(c));
      if (hit) return hit;
      if (reply.body?.attrs.type === 'terminate') throw new Error(`session terminated: ${reply.text}`);
    }
    throw new Error('no matching element');
  }

  close(): void {
    this.agent.destroy();
  }
}

/** Child elements of a body. */
export function children(body: ltx.Element | null): ltx.Element[] {
  return (body?.children ?? []).filter((c): c is ltx.Element => typeof c !== 'string');
}
