/**
 * What of an element may appear in a trace log. Credentials never do, at any level: SASL exchanges
 * (RFC 6120 §6.4: `<auth>`, `<response>`, `<challenge>`, `<success>` carry base64 secrets or proofs),
 * and anything mentioning a password (XEP-0077 registration, XEP-0078 legacy auth, password changes)
 * are reduced to their name and size. Everything else is cut to a bounded length, like Prosody's
 * 300-byte excerpts of bad XML.
 */

import { localName } from '../xml/standalone';

const SASL_ELEMENTS = new Set(['auth', 'response', 'challenge', 'success', 'failure', 'abort']);
export const TRACE_MAX_BYTES = 300;
/** `password` in any case: UTF-8 bytes, scanned without decoding the whole element. */
const PASSWORD = Buffer.from('password');

function mentionsPassword(bytes: Buffer): boolean {
  // Case-insensitive search for ASCII "password" without allocating a lower-cased copy.
  const first = PASSWORD[0]!;
  outer: for (let i = 0; i + PASSWORD.length <= bytes.length; i++) {
    if ((bytes[i]! | 0x20) !== first) continue;
    for (let j = 1; j < PASSWORD.length; j++) if ((bytes[i + j]! | 0x20) !== PASSWORD[j]) continue outer;
    return true;
  }
  return false;
}

/** A log-safe view of one element. */
export function traceView(name: string, bytes: Buffer): string {
  if (SASL_ELEMENTS.has(localName(name)) || mentionsPassword(bytes)) {
    return `<${name}> [${bytes.length} bytes redacted: credentials]`;
  }
  if (bytes.length <= TRACE_MAX_BYTES) return bytes.toString('utf8');
  // Cut on a UTF-8 character boundary so the excerpt stays valid text.
  let end = TRACE_MAX_BYTES;
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  return `${bytes.toString('utf8', 0, end)}… [${bytes.length} bytes]`;
}
