/**
 * A real client library over BOSH (XEP-0206): stanza's BOSH transport in Node runs the shared
 * two-user scenario (tests/clients/scenario.md: login with PLAIN and SASL restart, presence, roster,
 * messages both ways, terminate) first against Prosody's own mod_bosh — the reference, proving the
 * driver and the server sound — then through the gateway's /http-bind to the same Prosody's c2s
 * port. Both must pass the same checks.
 */
import { startProsody, type ProsodyInstance } from '../../tools/demo/prosody';
import { startGateway, type RunningGateway } from '../helpers/gateway';
import { describeDriverResult, expectScenarioPassed, runDriver, type DriverArgs } from '../helpers/run-driver';

describe('stanza over BOSH', () => {
  let prosody: ProsodyInstance;
  let gw: RunningGateway;
  let args: Omit<DriverArgs, 'url'>;

  beforeAll(async () => {
    prosody = await startProsody();
    gw = await startGateway({ upstream: { host: '127.0.0.1', port: prosody.c2sPort } });
    args = { domain: prosody.domain, accounts: prosody.accounts, mechanism: 'PLAIN', transport: 'bosh', timeoutMs: 30_000 };
  }, 30_000);

  afterAll(async () => {
    await gw?.close();
    await prosody?.stop();
  });

  it("reference: the scenario passes against Prosody's own mod_bosh", async () => {
    const result = await runDriver('stanza', { ...args, url: prosody.boshUrl });
    if (!result.ok) throw new Error(describeDriverResult(result));
    expectScenarioPassed('stanza', result.report!, prosody.accounts);
  }, 60_000);

  it("through the gateway's /http-bind: the same scenario passes", async () => {
    const result = await runDriver('stanza', { ...args, url: `http://127.0.0.1:${gw.port}/http-bind` });
    if (!result.ok) throw new Error(describeDriverResult(result));
    expectScenarioPassed('stanza', result.report!, prosody.accounts);
    // Both users' sessions went through BOSH and ended with a clean terminate.
    const created = (await gw.gateway.metrics.boshRequests.get()).values.find((v) => v.labels.result === 'created')?.value;
    expect(created).toBe(2);
    const clean = (await gw.gateway.metrics.boshTerminations.get()).values.find((v) => v.labels.condition === 'none')?.value;
    expect(clean).toBe(2);
  }, 60_000);
});
