/**
 * XEP-0156 discovery over HTTP: `/.well-known/host-meta` (XRD, RFC 6415) and
 * `/.well-known/host-meta.json` (JRD, RFC 6415 Appendix A) list the connection endpoints this
 * gateway serves, so a client that knows only a domain (Converse.js `discover_connection_methods`)
 * finds the WebSocket URL. Pure documents here; ../gateway.ts routes the requests.
 *
 * A transport adds itself with one entry in `altConnections` (BOSH: `urn:xmpp:alt-connections:xbosh`).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { escapeAttr } from '../xml/escape';
import { corsAllowOrigin } from './origin';
import type { PublicAuthority } from './forwarded';

export const HOST_META_PATH = '/.well-known/host-meta';
export const HOST_META_JSON_PATH = '/.well-known/host-meta.json';

/** XEP-0156 §3 link relations. */
export const REL_WEBSOCKET = 'urn:xmpp:alt-connections:websocket';
export const REL_XBOSH = 'urn:xmpp:alt-connections:xbosh';

export interface AltConnection {
  readonly rel: string;
  readonly href: string;
}

/** The gateway's WebSocket URL as the client sees it: wss behind a TLS proxy, the host it asked for. */
export function publicWebSocketUrl(authority: PublicAuthority, path: string, fallbackHost: string): string {
  return `${authority.scheme === 'https' ? 'wss' : 'ws'}://${authority.host === '' ? fallbackHost : authority.host}${path}`;
}

/** The gateway's BOSH URL as the client sees it (https behind a TLS proxy), for --bosh on. */
export function publicBoshUrl(authority: PublicAuthority, path: string, fallbackHost: string): string {
  return `${authority.scheme === 'https' ? 'https' : 'http'}://${authority.host === '' ? fallbackHost : authority.host}${path}`;
}

/** Every endpoint the gateway advertises, in preference order: WebSocket, then BOSH when it is on. */
export function altConnections(websocketUrl: string, boshUrl: string | null = null): AltConnection[] {
  const links = [{ rel: REL_WEBSOCKET, href: websocketUrl }];
  if (boshUrl !== null) links.push({ rel: REL_XBOSH, href: boshUrl });
  return links;
}

export function hostMetaXrd(links: readonly AltConnection[]): string {
  return [
    "<?xml version='1.0' encoding='utf-8'?>",
    "<XRD xmlns='http://docs.oasis-open.org/ns/xri/xrd-1.0'>",
    ...links.map((l) => `  <Link rel='${escapeAttr(l.rel)}' href='${escapeAttr(l.href)}'/>`),
    '</XRD>',
    '',
  ].join('\n');
}

export function hostMetaJrd(links: readonly AltConnection[]): string {
  return `${JSON.stringify({ links: links.map((l) => ({ rel: l.rel, href: l.href })) }, null, 2)}\n`;
}

/**
 * Answers a host-meta request (GET, HEAD, or a CORS preflight). `Access-Control-Allow-Origin`
 * follows `--allowed-origins` (./origin.ts): a page the WebSocket would refuse is not told where it is.
 * Returns false when the path is not a host-meta path.
 */
export function serveHostMeta(req: IncomingMessage, res: ServerResponse, path: string, links: readonly AltConnection[], authority: PublicAuthority, allowedOrigins: readonly string[]): boolean {
  if (path !== HOST_META_PATH && path !== HOST_META_JSON_PATH) return false;
  const headers: Record<string, string> = { Vary: 'Origin', 'Cache-Control': 'no-cache', 'X-Content-Type-Options': 'nosniff' };
  const allow = corsAllowOrigin(req.headers.origin, authority.host, allowedOrigins);
  if (allow !== null) headers['Access-Control-Allow-Origin'] = allow;
  if (req.method === 'OPTIONS') {
    if (allow !== null) Object.assign(headers, { 'Access-Control-Allow-Methods': 'GET, HEAD', 'Access-Control-Allow-Headers': 'Accept', 'Access-Control-Max-Age': '600' });
    res.writeHead(204, headers).end();
    return true;
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { ...headers, Allow: 'GET, HEAD, OPTIONS', 'Content-Type': 'text/plain; charset=utf-8' }).end('Method Not Allowed\n');
    return true;
  }
  const json = path === HOST_META_JSON_PATH;
  const body = Buffer.from(json ? hostMetaJrd(links) : hostMetaXrd(links), 'utf8');
  headers['Content-Type'] = json ? 'application/jrd+json; charset=utf-8' : 'application/xrd+xml; charset=utf-8';
  headers['Content-Length'] = String(body.length);
  res.writeHead(200, headers);
  res.end(req.method === 'HEAD' ? undefined : body);
  return true;
}
