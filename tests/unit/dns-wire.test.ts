import { TYPE, answersFor, decodeResponse, encodeQuery, DnsFormatError } from '../../src/upstream/dns-wire';
import { parseHosts } from '../../src/upstream/dns';

/** A response built by hand: the question, then answers; names may be compressed pointers. */
function name(n: string): Buffer {
  return Buffer.concat([...n.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)])), Buffer.from([0])]);
}
function rr(owner: Buffer, type: number, ttl: number, rdata: Buffer): Buffer {
  const h = Buffer.alloc(10);
  h.writeUInt16BE(type, 0);
  h.writeUInt16BE(1, 2);
  h.writeUInt32BE(ttl, 4);
  h.writeUInt16BE(rdata.length, 8);
  return Buffer.concat([owner, h, rdata]);
}
function response(id: number, flags: number, question: Buffer, answers: Buffer[], authority: Buffer[] = []): Buffer {
  const h = Buffer.alloc(12);
  h.writeUInt16BE(id, 0);
  h.writeUInt16BE(flags, 2);
  h.writeUInt16BE(1, 4);
  h.writeUInt16BE(answers.length, 6);
  h.writeUInt16BE(authority.length, 8);
  return Buffer.concat([h, question, ...answers, ...authority]);
}
const POINTER_TO_QNAME = Buffer.from([0xc0, 12]);

describe('DNS wire format', () => {
  it('encodes a recursive query', () => {
    const q = encodeQuery(0x1234, '_xmpp-client._tcp.Example.org.', TYPE.SRV);
    expect(q.subarray(0, 12).toString('hex')).toBe('123401000001000000000000');
    expect(q.subarray(12).toString('latin1')).toBe('\x0c_xmpp-client\x04_tcp\x07example\x03org\x00\x00\x21\x00\x01');
  });

  it('decodes SRV answers with compressed owner and target names, and their TTL', () => {
    const q = encodeQuery(7, '_xmpp-client._tcp.example.org', TYPE.SRV);
    const question = q.subarray(12);
    const rdata = (prio: number, weight: number, port: number, target: Buffer): Buffer => {
      const b = Buffer.alloc(6);
      b.writeUInt16BE(prio, 0);
      b.writeUInt16BE(weight, 2);
      b.writeUInt16BE(port, 4);
      return Buffer.concat([b, target]);
    };
    // "c2s" + pointer to "example.org" inside the question (offset 12 + 1 + 12 + 1 + 4 = 30).
    const c2s = Buffer.concat([Buffer.from([3]), Buffer.from('c2s'), Buffer.from([0xc0, 30])]);
    const msg = response(7, 0x8180, question, [rr(POINTER_TO_QNAME, TYPE.SRV, 300, rdata(10, 60, 5222, c2s)), rr(POINTER_TO_QNAME, TYPE.SRV, 120, rdata(20, 0, 5223, name('backup.example.net')))]);
    const r = decodeResponse(msg);
    expect(r.id).toBe(7);
    expect(r.rcode).toBe(0);
    const { records, ttl } = answersFor(r, '_XMPP-client._tcp.example.org.', TYPE.SRV);
    expect(records).toEqual([
      { type: TYPE.SRV, priority: 10, weight: 60, port: 5222, target: 'c2s.example.org' },
      { type: TYPE.SRV, priority: 20, weight: 0, port: 5223, target: 'backup.example.net' },
    ]);
    expect(ttl).toBe(120);
  });

  it('follows a CNAME to A and AAAA records, the TTL being the chain minimum', () => {
    const question = encodeQuery(9, 'xmpp.example.org', TYPE.A).subarray(12);
    const msg = response(9, 0x8180, question, [
      rr(POINTER_TO_QNAME, TYPE.CNAME, 60, name('host.example.net')),
      rr(name('host.example.net'), TYPE.A, 3600, Buffer.from([192, 0, 2, 10])),
      rr(name('host.example.net'), TYPE.AAAA, 3600, Buffer.from('20010db8000000000000000000000001', 'hex')),
    ]);
    const r = decodeResponse(msg);
    expect(answersFor(r, 'xmpp.example.org', TYPE.A)).toEqual({ records: [{ type: TYPE.A, address: '192.0.2.10' }], ttl: 60 });
    expect(answersFor(r, 'xmpp.example.org', TYPE.AAAA).records).toEqual([{ type: TYPE.AAAA, address: '2001:db8:0:0:0:0:0:1' }]);
  });

  it('NXDOMAIN with an SOA: the negative TTL is min(SOA TTL, MINIMUM) (RFC 2308 §5)', () => {
    const question = encodeQuery(3, 'nope.example.org', TYPE.A).subarray(12);
    const soa = Buffer.concat([name('ns.example.org'), name('admin.example.org'), Buffer.from('00000001000000010000000100000001', 'hex'), Buffer.from([0, 0, 0, 30])]);
    const r = decodeResponse(response(3, 0x8183, question, [], [rr(name('example.org'), TYPE.SOA, 300, soa)]));
    expect(r.rcode).toBe(3);
    expect(r.negativeTtl).toBe(30);
  });

  it('flags a truncated answer (TC) for the retry over TCP', () => {
    const question = encodeQuery(4, 'x.example', TYPE.SRV).subarray(12);
    expect(decodeResponse(response(4, 0x8380, question, [])).truncated).toBe(true);
  });

  it('refuses malformed input: short, not a response, pointer loops, overruns', () => {
    expect(() => decodeResponse(Buffer.alloc(5))).toThrow(DnsFormatError);
    const question = encodeQuery(1, 'a.example', TYPE.A).subarray(12);
    expect(() => decodeResponse(response(1, 0x0100, question, []))).toThrow(/not a response/);
    const loop = response(1, 0x8180, question, [rr(Buffer.from([0xc0, 0x40]), TYPE.A, 1, Buffer.from([1, 2, 3, 4]))]);
    expect(() => decodeResponse(loop)).toThrow(DnsFormatError);
    const overrun = response(1, 0x8180, question, [rr(POINTER_TO_QNAME, TYPE.A, 1, Buffer.from([1, 2, 3, 4]))]).subarray(0, -2);
    expect(() => decodeResponse(overrun)).toThrow(/past the message/);
  });

  it('refuses over-long labels when encoding', () => {
    expect(() => encodeQuery(1, `${'a'.repeat(64)}.example`, TYPE.A)).toThrow(DnsFormatError);
  });
});

describe('/etc/hosts', () => {
  it('maps names (case-insensitive) to addresses in file order, skipping comments', () => {
    const hosts = parseHosts('# comment\n127.0.0.1 localhost Local.Host\n::1 localhost ip6-localhost # v6\n\nnot-an-ip foo\n10.0.0.5\tprosody\n');
    expect(hosts.get('localhost')).toEqual(['127.0.0.1', '::1']);
    expect(hosts.get('local.host')).toEqual(['127.0.0.1']);
    expect(hosts.get('prosody')).toEqual(['10.0.0.5']);
    expect(hosts.has('foo')).toBe(false);
  });
});
