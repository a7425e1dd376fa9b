/**
 * The session core while its server connection is not ready yet (src/session/session.ts): client
 * reads are paused once something is queued for the server, not at the open (a login sends
 * `<open/>` and waits, and must not cost a pause and resume), and what was queued reaches the server
 * in order once it is. The session runs in tests/helpers/session-rig.ts: a recording client
 * transport and a dialer the test answers by hand.
 */
import { startSession as start, element } from '../helpers/session-rig';

it('does not pause client reads at the open: a login waits for the server without a pause and resume', async () => {
  const t = start();
  t.session.clientOpen(t.openAttrs);
  expect(t.dialed()).toBe(true);
  expect(t.transport.calls).toEqual([]);
  const server = await t.connect();
  expect(t.transport.calls).toEqual([]);
  server.close();
});

it('pauses client reads once an element is queued before the server is ready, and delivers it in order after the header', async () => {
  const t = start();
  t.session.clientOpen(t.openAttrs);
  t.session.clientElement(element("<presence xmlns='jabber:client' id='p1'/>"), 0);
  expect(t.transport.calls).toEqual(['pause']);
  t.session.clientElement(element("<presence xmlns='jabber:client' id='p2'/>"), 0);
  expect(t.transport.calls).toEqual(['pause']); // already paused
  const server = await t.connect();
  expect(t.transport.calls).toEqual(['pause', 'resume']);
  for (;;) {
    if (t.session.state === 'closed') throw new Error('session ended');
    if (server.received().includes("id='p2'")) break;
    await new Promise((r) => setImmediate(r));
  }
  const text = server.received();
  expect(text.indexOf('<stream:stream')).toBeLessThan(text.indexOf("id='p1'"));
  expect(text.indexOf("id='p1'")).toBeLessThan(text.indexOf("id='p2'"));
  server.close();
});
