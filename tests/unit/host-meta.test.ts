import { DOMParser } from '@xmldom/xmldom';
import { REL_WEBSOCKET, altConnections, hostMetaJrd, hostMetaXrd, publicWebSocketUrl } from '../../src/http/host-meta';

describe('XEP-0156 host-meta documents', () => {
  it('advertise the WebSocket URL in XRD and JRD', () => {
    const links = altConnections('wss://chat.example.org:8443/xmpp-websocket');
    const xrd = new DOMParser().parseFromString(hostMetaXrd(links), 'text/xml');
    const link = xrd.getElementsByTagNameNS('http://docs.oasis-open.org/ns/xri/xrd-1.0', 'Link')[0]!;
    expect(link.getAttribute('rel')).toBe('urn:xmpp:alt-connections:websocket');
    expect(link.getAttribute('href')).toBe('wss://chat.example.org:8443/xmpp-websocket');
    expect(JSON.parse(hostMetaJrd(links))).toEqual({ links: [{ rel: REL_WEBSOCKET, href: 'wss://chat.example.org:8443/xmpp-websocket' }] });
  });
  it('escape whatever reaches an attribute', () => {
    const xrd = hostMetaXrd([{ rel: REL_WEBSOCKET, href: "ws://a/'<&>" }]);
    const doc = new DOMParser().parseFromString(xrd, 'text/xml');
    expect(doc.getElementsByTagName('Link')[0]!.getAttribute('href')).toBe("ws://a/'<&>");
  });
  it('derive ws/wss from the scheme the client used, and the bound address when no Host came', () => {
    expect(publicWebSocketUrl({ scheme: 'https', host: 'chat.example.org' }, '/xmpp-websocket', '127.0.0.1:5280')).toBe('wss://chat.example.org/xmpp-websocket');
    expect(publicWebSocketUrl({ scheme: 'http', host: '' }, '/ws', '127.0.0.1:5280')).toBe('ws://127.0.0.1:5280/ws');
  });
});
