/**
 * `--web-client on`: the Converse.js chat page, served at `/` by the gateway itself, connected to
 * the gateway's own WebSocket URL as the client sees it (after trusted proxies). Converse.js comes
 * from the pinned npm package `converse.js` installed with the gateway; nothing is fetched from a CDN.
 *
 *   /                          the page: no inline script or style (strict CSP), revalidated every time
 *   /web-client/start.js       our start script: fetches the settings, calls converse.initialize
 *   /web-client/settings.json  the Converse settings for this request's public URL (no-cache)
 *   /converse/<version>/…      files of the package's dist/ folder; the version is in the path, so
 *                              they are cached for a year as immutable (a new package, a new path)
 *
 * Path traversal is impossible by construction: a request path is decoded once, split into
 * segments, and refused if any segment is empty, `.`, `..`, or holds a slash, backslash or NUL; the
 * resolved file must still lie inside dist/ after symlinks are resolved; only regular files with a
 * known extension are served. Anything else is 404.
 */
import { createReadStream, readFileSync, realpathSync, statSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { dirname, extname, join, sep } from 'node:path';

export const WEB_CLIENT_PREFIX = '/web-client/';
const ASSET_PREFIX = '/converse/';

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.gif': 'image/gif',
  '.ttf': 'font/ttf',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.mp3': 'audio/mpeg',
  '.ogg': 'audio/ogg',
};

/** Where the installed converse.js package keeps its build, and its version. */
export interface ConversePackage {
  readonly distDir: string;
  readonly version: string;
}

export function findConversePackage(): ConversePackage {
  // The package's exports map allows `converse.js/dist/*` only; its package.json is next to dist/.
  const distDir = realpathSync(dirname(require.resolve('converse.js/dist/converse.min.js')));
  const { version } = JSON.parse(readFileSync(join(distDir, '..', 'package.json'), 'utf8')) as { version: string };
  return { distDir, version };
}

/**
 * The Content-Security-Policy of every web-client response. Scripts only from this origin (no inline
 * script, no eval; 'wasm-unsafe-eval' for the OMEMO WebAssembly module Converse ships); connections to
 * this origin (settings, emoji, locales) and to the WebSocket URL; images also from data: and blob:
 * (avatars, pasted images). Styles allow 'unsafe-inline' because Converse's lit templates set
 * `style` attributes (colours, sizes); styles cannot run code.
 */
export function contentSecurityPolicy(websocketUrl: string): string {
  return [
    "default-src 'none'",
    "script-src 'self' 'wasm-unsafe-eval'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    "font-src 'self' data:",
    "media-src 'self' data: blob:",
    `connect-src 'self' ${websocketUrl}`,
    "worker-src 'self' blob:",
    "manifest-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/** The Converse settings for one request: the gateway's, then the operator's (--web-client-settings) over them. */
export function converseSettings(opts: { websocketUrl: string; assetsPath: string; domain: string; extra: Readonly<Record<string, unknown>> }): Record<string, unknown> {
  return {
    websocket_url: opts.websocketUrl,
    assets_path: opts.assetsPath,
    authentication: 'login',
    auto_login: false,
    auto_reconnect: true,
    // The URL is known: no XEP-0156 round trip, no BOSH fallback.
    discover_connection_methods: false,
    allow_registration: false,
    view_mode: 'fullscreen',
    ...(opts.domain === '' ? {} : { default_domain: opts.domain }),
    ...opts.extra,
  };
}

function pageHtml(assets: string): string {
  return [
    '<!DOCTYPE html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    '<title>Chat</title>',
    `<link rel="icon" href="${assets}images/favicon.ico">`,
    `<link rel="stylesheet" href="${assets}converse.min.css">`,
    // Converse 14's build is an ES module (it sets window.converse); module scripts run in document order.
    `<script type="module" src="${assets}converse.min.js"></script>`,
    `<script type="module" src="${WEB_CLIENT_PREFIX}start.js"></script>`,
    '</head>',
    '<body class="converse-fullscreen">',
    '<noscript>This chat needs JavaScript.</noscript>',
    '</body>',
    '</html>',
    '',
  ].join('\n');
}

/** Kept tiny and static: the settings are data (settings.json), never code built from configuration. */
const START_JS = `fetch(${JSON.stringify(`${WEB_CLIENT_PREFIX}settings.json`)}, { cache: 'no-store' })
  .then(function (r) { if (!r.ok) throw new Error('settings: HTTP ' + r.status); return r.json(); })
  .then(function (settings) { return window.converse.initialize(settings); })
  .catch(function (e) { document.body.textContent = 'The chat could not start: ' + e.message; });
`;

/** Decodes a request path under `prefix` into safe segments, or null (→ 404). */
export function safeSegments(path: string, prefix: string): string[] | null {
  if (!path.startsWith(prefix)) return null;
  let rest: string;
  try {
    rest = decodeURIComponent(path.slice(prefix.length));
  } catch {
    return null;
  }
  const segments = rest.split('/');
  for (const s of segments) {
    if (s === '' || s === '.' || s === '..' || /[\\\0]/.test(s)) return null;
  }
  return segments;
}

export interface WebClientRequest {
  readonly path: string;
  /** The gateway's WebSocket URL as this client sees it. */
  readonly websocketUrl: string;
}

export class WebClient {
  private readonly assetsPath: string;
  private readonly page: Buffer;
  private readonly start = Buffer.from(START_JS, 'utf8');

  constructor(
    private readonly pkg: ConversePackage,
    private readonly domain: string,
    private readonly extra: Readonly<Record<string, unknown>>,
  ) {
    this.assetsPath = `${ASSET_PREFIX}${encodeURIComponent(pkg.version)}/`;
    this.page = Buffer.from(pageHtml(this.assetsPath), 'utf8');
  }

  /** Answers the request if the path is the web client's; false otherwise (the caller answers 404). */
  handle(req: IncomingMessage, res: ServerResponse, { path, websocketUrl }: WebClientRequest): boolean {
    const isOurs = path === '/' || path === '/index.html' || path.startsWith(WEB_CLIENT_PREFIX) || path.startsWith(ASSET_PREFIX);
    if (!isOurs) return false;
    const headers: Record<string, string> = {
      'Content-Security-Policy': contentSecurityPolicy(websocketUrl),
      'X-Content-Type-Options': 'nosniff',
      'Referrer-Policy': 'no-referrer',
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { ...headers, Allow: 'GET, HEAD', 'Content-Type': 'text/plain; charset=utf-8' }).end('Method Not Allowed\n');
      return true;
    }
    const send = (status: number, type: string, body: Buffer, cache: string): void => {
      res.writeHead(status, { ...headers, 'Content-Type': type, 'Content-Length': String(body.length), 'Cache-Control': cache });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    const notFound = (): void => send(404, 'text/plain; charset=utf-8', Buffer.from('Not Found\n'), 'no-store');
    if (path === '/' || path === '/index.html') {
      send(200, 'text/html; charset=utf-8', this.page, 'no-cache');
    } else if (path === `${WEB_CLIENT_PREFIX}start.js`) {
      send(200, CONTENT_TYPES['.js']!, this.start, 'no-cache');
    } else if (path === `${WEB_CLIENT_PREFIX}settings.json`) {
      const settings = converseSettings({ websocketUrl, assetsPath: this.assetsPath, domain: this.domain, extra: this.extra });
      send(200, CONTENT_TYPES['.json']!, Buffer.from(JSON.stringify(settings), 'utf8'), 'no-store');
    } else if (path.startsWith(this.assetsPath)) {
      this.sendAsset(req, res, path, headers, notFound);
    } else {
      notFound();
    }
    return true;
  }

  private sendAsset(req: IncomingMessage, res: ServerResponse, path: string, headers: Record<string, string>, notFound: () => void): void {
    const segments = safeSegments(path, this.assetsPath);
    const type = segments === null ? undefined : CONTENT_TYPES[extname(segments[segments.length - 1]!).toLowerCase()];
    if (segments === null || type === undefined) return notFound();
    let file: string;
    let size: number;
    try {
      file = realpathSync(join(this.pkg.distDir, ...segments));
      const st = statSync(file);
      if (!st.isFile() || !file.startsWith(this.pkg.distDir + sep)) return notFound();
      size = st.size;
    } catch {
      return notFound();
    }
    res.writeHead(200, { ...headers, 'Content-Type': type, 'Content-Length': String(size), 'Cache-Control': 'public, max-age=31536000, immutable' });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    const stream = createReadStream(file);
    stream.on('error', () => res.destroy());
    res.on('close', () => stream.destroy());
    stream.pipe(res);
  }
}
