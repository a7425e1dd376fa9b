"use strict";
/**
 * Idle RSS and setup CPU per session, gateway (--workers 1) vs the floor relay, in interleaved
 * repetitions on one fake c2s: a small, bounded run for a loaded machine (the full comparison is
 * bench/run.js). Usage: node bench/idle-vs-floor.js [N=3000] [REPS=2] (from the checkout root).
 */
const [nArg = "3000", repsArg = "2"] = process.argv.slice(2);
const sys = require("./lib/system");
const { LoadgenPool } = require("./lib/loadgen");
const N = Number(nArg),
  REPS = Number(repsArg);
(async () => {
  const fake = await sys.startFake();
  const pool = await LoadgenPool.start(2);
  const out = { gateway: [], floor: [] };
  for (let rep = 0; rep < REPS; rep++) {
    for (const kind of rep % 2 ? ["floor", "gateway"] : ["gateway", "floor"]) {
      const relay =
        kind === "gateway"
          ? await sys.startGateway({ upstreamPort: fake.port, workers: 1 })
          : await sys.startFloor({ upstreamPort: fake.port });
      const args = (tag, count) => ({
        tag,
        url: relay.url,
        count,
        domain: "localhost",
        sasl: "PLAIN",
        srcCount: 8,
        concurrency: 100,
      });
      const w = await pool.login(args("warm", 200), 120000);
      await pool.all("close", { tag: "warm" });
      await sys.sleep(1000);
      const rss0 = relay.rss(),
        cpu0 = relay.cpu();
      const r = await pool.login(args("idle", N), 300000);
      const cpu1 = relay.cpu();
      await sys.sleep(3000);
      const rss1 = relay.rss();
      await pool.all("close", { tag: "idle" });
      await relay.stop();
      const row = {
        ok: r.ok,
        warmFailed: w.failed,
        rssKiB: (rss1 - rss0) / r.ok,
        setupUs: ((cpu1 - cpu0) / r.ok) * 1e6,
      };
      out[kind].push(row);
      console.log(
        kind,
        JSON.stringify(row),
        "load",
        require("os").loadavg()[0].toFixed(1),
      );
    }
  }
  const med = (a) => {
    const s = [...a].sort((x, y) => x - y);
    return s.length % 2
      ? s[(s.length - 1) / 2]
      : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  };
  for (const k of ["gateway", "floor"])
    console.log(
      k,
      "median rss KiB",
      med(out[k].map((r) => r.rssKiB)).toFixed(2),
      "setup µs",
      med(out[k].map((r) => r.setupUs)).toFixed(0),
    );
  console.log(
    "ratios rss",
    (
      med(out.gateway.map((r) => r.rssKiB)) /
      med(out.floor.map((r) => r.rssKiB))
    ).toFixed(2),
    "setup",
    (
      med(out.gateway.map((r) => r.setupUs)) /
      med(out.floor.map((r) => r.setupUs))
    ).toFixed(2),
  );
  await fake.stop();
  process.exit(0);
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
