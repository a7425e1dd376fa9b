/**
 * The point of the project: real XMPP client libraries log in to a real Prosody 0.12 through the
 * gateway (SASL PLAIN, stream restart, bind, roster, presence, messages, close), with the same
 * scenario that tests/e2e/prosody-reference.test.ts runs against Prosody's own endpoint.
 */
import { startProsody } from '../../tools/demo/prosody';
import { startGateway, useProsodyBehindGateway } from '../helpers/gateway';
import { describeDriverResult, expectScenarioPassed, runDriver, type DriverName } from '../helpers/run-driver';
import { waitUntil } from '../helpers/raw-xmpp';

const DRIVERS: DriverName[] = ['stanza', 'strophe', 'xmppjs'];

describe('client libraries through the gateway to Prosody c2s', () => {
  const stack = useProsodyBehindGateway();

  it.each(DRIVERS)('%s: login with PLAIN, restart, bind, roster, presence, messages, close', async (name) => {
    const result = await runDriver(name, { url: stack.gw.url, domain: stack.prosody.domain, accounts: stack.prosody.accounts, mechanism: 'PLAIN' });
    if (!result.ok) throw new Error(describeDriverResult(result));
    expectScenarioPassed(name, result.report!, stack.prosody.accounts);
  });

  it('stanza with SCRAM-SHA-1 too', async () => {
    const result = await runDriver('stanza', { url: stack.gw.url, domain: stack.prosody.domain, accounts: stack.prosody.accounts, mechanism: 'SCRAM-SHA-1' });
    if (!result.ok) throw new Error(describeDriverResult(result));
    expect(result.report!.mechanismsUsed).toEqual(['SCRAM-SHA-1', 'SCRAM-SHA-1']);
  });

  it('all three libraries at once', async () => {
    // Each pair of users needs its own accounts so the scenarios do not see each other's messages.
    const extra = await startProsody({ accounts: ['a1', 'b1', 'a2', 'b2', 'a3', 'b3'].map((username) => ({ username })) });
    const other = await startGateway({ upstream: { host: '127.0.0.1', port: extra.c2sPort } });
    try {
      const results = await Promise.all(
        DRIVERS.map((name, i) =>
          runDriver(name, { url: other.url, domain: extra.domain, accounts: extra.accounts.slice(2 * i, 2 * i + 2), mechanism: 'PLAIN' }),
        ),
      );
      results.forEach((r, i) => {
        if (!r.ok) throw new Error(describeDriverResult(r));
        expectScenarioPassed(DRIVERS[i]!, r.report!, extra.accounts.slice(2 * i, 2 * i + 2));
      });
      // A driver's exit does not mean the gateway has read its close yet: wait for the outcome.
      await waitUntil(() => other.gateway.sessionCount === 0, 'every driver session to end', 10_000);
    } finally {
      await other.close();
      await extra.stop();
    }
  });
});
