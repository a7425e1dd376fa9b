/**
 * The README's "Load testing" recipe, run for real: Debian's Tsung 1.7 drives the shipped scenario
 * (deploy/tsung/xmpp-websocket.xml, ts_jabber over its websocket transport, i.e. the legacy framing)
 * through the gateway CLI, started with the limits the guide says to lift and the default
 * --allowed-origins, to a private Prosody holding Tsung's users. Asserted from three sides: Tsung's
 * own statistics (every user logged in, matched <success> and <jid>, and finished; no error counter),
 * Prosody's log (each user authenticated) and the gateway's metrics and logs (legacy sessions,
 * messages relayed both ways, clean closes, no stream error, no refused handshake).
 *
 * Bounded: 4 users, a <load duration> of 60 s in the config, a 120 s deadline here after which Tsung's
 * process group is killed; Tsung's Erlang VM listens only on 127.0.0.1 (no epmd, no web dashboard).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startProsody, type ProsodyInstance } from '../../tools/demo/prosody';
import { startCli, httpGet, type CliGateway } from '../helpers/cli';
import { freePort } from '../helpers/net';
import { processesMentioning } from '../helpers/processes';

const CONFIG = join(__dirname, '..', '..', 'deploy', 'tsung', 'xmpp-websocket.xml');
const USERS = 4;
const CHATS_PER_USER = 3;
const TSUNG_DEADLINE_MS = 120_000;

/**
 * Totals from the last `stats:` line of each name in tsung.log: counters are `name current total`,
 * samples `name count mean stddev max min global_mean global_count` (count of this interval plus
 * global_count of the earlier ones).
 */
function tsungTotals(log: string): Map<string, number> {
  const totals = new Map<string, number>();
  for (const line of log.split('\n')) {
    const m = /^stats: (\S+) (.*)$/.exec(line);
    if (m === null) continue;
    const fields = m[2]!.trim().split(/\s+/).map(Number);
    totals.set(m[1]!, fields.length === 7 ? fields[0]! + fields[6]! : fields[fields.length - 1]!);
  }
  return totals;
}

/** One value from a Prometheus text exposition, e.g. `xmppgw_elements_total{direction="c2s",kind="message"}`. */
function metric(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

describe('Tsung through the gateway (README "Load testing")', () => {
  let prosody: ProsodyInstance | undefined;
  let cli: CliGateway | undefined;
  let tsung: ChildProcess | undefined;
  let dir = '';

  afterAll(async () => {
    // Tsung's shell script starts an Erlang VM as its child: end the whole group we started.
    if (tsung?.pid !== undefined && tsung.exitCode === null) {
      try {
        process.kill(-tsung.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await cli?.kill();
    await prosody?.stop();
    if (dir !== '') {
      for (const pid of processesMentioning(dir)) process.kill(pid, 'SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('logs every user in, relays their chats both ways, and logs them out', async () => {
    if (!existsSync('/usr/bin/tsung')) throw new Error('tsung is not installed: run npm run test:deps (Debian package tsung)');
    prosody = await startProsody({
      accounts: Array.from({ length: USERS }, (_, i) => ({ username: `tsunguser${i + 1}`, password: `sesame${i + 1}` })),
    });
    // The guide's settings: one load-generator address must not hit the per-IP limits.
    const gw = await startCli(prosody.c2sPort, ['--max-connections-per-ip', '0', '--connection-rate-per-ip', '0/1s'], 1);
    cli = gw.cli;
    const port = /:(\d+)\//.exec(gw.url)![1]!;

    dir = mkdtempSync(join(tmpdir(), 'xmppgw-tsung-'));
    const shipped = readFileSync(CONFIG, 'utf8');
    const config = shipped
      .replace('<server host="127.0.0.1" port="5280" type="websocket"/>', `<server host="127.0.0.1" port="${port}" type="websocket"/>`)
      .replace('<option type="ts_jabber" name="domain" value="localhost"/>', `<option type="ts_jabber" name="domain" value="${prosody.domain}"/>`);
    expect(config).not.toBe(shipped);
    expect(config).toContain(`port="${port}"`);
    expect(config).toMatch(new RegExp(`name="userid_max" value="${USERS}"`));
    writeFileSync(join(dir, 'scenario.xml'), config);

    // -n: no web dashboard (it would listen on every interface); -I 127.0.0.1: node name on loopback;
    // no epmd: the controller's distribution port is fixed and bound to 127.0.0.1 (ERL_AFLAGS).
    const distPort = await freePort();
    tsung = spawn('tsung', ['-n', '-I', '127.0.0.1', '-f', join(dir, 'scenario.xml'), '-l', join(dir, 'logs'), 'start'], {
      env: {
        PATH: process.env.PATH,
        HOME: dir,
        ERL_AFLAGS: `-start_epmd false -erl_epmd_port ${distPort} -kernel inet_dist_use_interface {127,0,0,1}`,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let output = '';
    tsung.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    tsung.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    const exit = await new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => {
        try {
          process.kill(-tsung!.pid!, 'SIGKILL');
        } catch {
          // exited meanwhile
        }
      }, TSUNG_DEADLINE_MS);
      tsung!.once('exit', (code) => {
        clearTimeout(timer);
        resolve(code);
      });
    });
    expect({ exit, output }).toEqual({ exit: 0, output: expect.stringContaining('Log directory is') });

    // Tsung's view.
    const runs = readdirSync(join(dir, 'logs'));
    expect(runs).toHaveLength(1);
    const totals = tsungTotals(readFileSync(join(dir, 'logs', runs[0]!, 'tsung.log'), 'utf8'));
    const errors = [...totals].filter(([name, n]) => name.startsWith('error_') && n > 0);
    expect(errors).toEqual([]);
    expect(totals.get('users_count')).toBe(USERS);
    expect(totals.get('finish_users_count')).toBe(USERS);
    expect(totals.get('match')).toBe(2 * USERS); // <success and <jid> for each user
    expect(totals.get('nomatch') ?? 0).toBe(0);
    expect(totals.get('tr_login')).toBe(USERS);
    expect(totals.get('tr_logout')).toBe(USERS);
    expect(totals.get('request_noack')).toBe(USERS * (1 + CHATS_PER_USER)); // presence + chats

    // Prosody's view: each user authenticated through the gateway.
    const prosodyLog = readFileSync(prosody.logFile, 'utf8');
    for (let i = 1; i <= USERS; i++) expect(prosodyLog).toContain(`Authenticated as tsunguser${i}@${prosody.domain}`);

    // The gateway's view.
    const metrics = (await httpGet(`${gw.ops}/metrics`)).body;
    expect(metric(metrics, 'xmppgw_sessions_total{framing="legacy"}')).toBe(USERS);
    expect(metric(metrics, 'xmppgw_ws_handshakes_total{result="accepted"}')).toBe(USERS);
    expect(metric(metrics, 'xmppgw_elements_total{direction="c2s",kind="message"}')).toBe(USERS * CHATS_PER_USER);
    // Chats go to users online at the time (Tsung's destination="online"): at least one is delivered
    // back through the gateway to another Tsung user.
    expect(metric(metrics, 'xmppgw_elements_total{direction="s2c",kind="message"}')).toBeGreaterThan(0);
    expect(metrics).not.toMatch(/^xmppgw_stream_errors_total\{[^}]*\} [1-9]/m);
    const closed = await gw.cli.waitForEvents('session_closed', USERS);
    expect(closed.map((l) => [l.reason, l.ws_close_code])).toEqual(Array(USERS).fill(['client_closed', 1000]));
    expect(gw.cli.events('handshake_rejected')).toEqual([]);
  }, 200_000);
});
