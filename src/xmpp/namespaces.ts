/** XML namespaces the gateway reads or writes. */

/** RFC 7395 §3.3.1: the framing namespace of `<open/>` and `<close/>`. */
export const NS_FRAMING = 'urn:ietf:params:xml:ns:xmpp-framing';
/** RFC 6120 §4.8.1: the `stream:` prefix of the classic stream. */
export const NS_STREAMS = 'http://etherx.jabber.org/streams';
/** RFC 6120 §4.8.2: the content namespace of client-to-server streams. */
export const NS_CLIENT = 'jabber:client';
/** RFC 6120 §4.9.3: the namespace of stream error conditions. */
export const NS_XMPP_STREAMS = 'urn:ietf:params:xml:ns:xmpp-streams';
/** RFC 6120 §5.4.1: STARTTLS negotiation. */
export const NS_TLS = 'urn:ietf:params:xml:ns:xmpp-tls';
/** The `xml:` prefix is bound by definition (Namespaces in XML 1.0 §3). */
export const NS_XML = 'http://www.w3.org/XML/1998/namespace';
/** RFC 7395 §3.1: the WebSocket subprotocol name. */
export const WS_SUBPROTOCOL = 'xmpp';
/** RFC 6120 §6.4: SASL negotiation (`<success/>` allows the stream restart, §6.4.6). */
export const NS_SASL = 'urn:ietf:params:xml:ns:xmpp-sasl';
/** XEP-0388: Extensible SASL Profile (SASL2), which lists mechanisms too. */
export const NS_SASL2 = 'urn:xmpp:sasl:2';
/** XEP-0440: SASL channel-binding type capability. */
export const NS_SASL_CB = 'urn:xmpp:sasl-cb:0';
/** XEP-0124 §4: the namespace of the BOSH `<body/>` wrapper. */
export const NS_HTTPBIND = 'http://jabber.org/protocol/httpbind';
/** XEP-0206 §3: the `xmpp:` attributes of the BOSH `<body/>` (version, restart, restartlogic). */
export const NS_XBOSH = 'urn:xmpp:xbosh';
