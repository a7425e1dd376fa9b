"use strict";
/**
 * Idle RSS and setup CPU per session, gateway (--workers 1) vs the floor relay, in interleaved
 * repetitions on one fake c2s: a small, bounded run for a loaded machine (the full comparison is
 * bench/run.js). Usage: node bench/idle-vs-floor.js [N=3000] [REPS=2] [--base DIR] (from the
 * checkout root). `--base DIR`: also another built checkout's gateway (e.g. a `git worktree` of the
 * last recorded commit, after `npm run build` there), in the same interleaved rounds, to tell a
 * regression from the machine's drift; repeatable, each named by its folder (the ablations of
 * bench/ablations/ are measured this way). `--protocol-floor`: also the protocol floor
 * (bench/lib/protocol-floor-relay.js: the floor plus RFC 7395's server-side element split, with the
 * gateway's built tokenizer), to tell the protocol's share of the setup cost from the gateway's own.
 * `--warm N` (200): logins (then closed) on each fresh relay before the measured ones; a long one
 * lets the measured sessions reuse memory the warm-up mapped (bench/RESULTS.md, "What the setup gap
 * is made of").
 */
const argv = process.argv.slice(2);
const path = require("path");
/** Every `--base DIR`, by name (the folder's); the gateway of this checkout is "gateway". */
const BASES = new Map(argv.flatMap((a, i) => (a === "--base" ? [[path.basename(path.resolve(argv[i + 1])), path.resolve(argv[i + 1])]] : [])));
const PROTOCOL = argv.includes("--protocol-floor");
const warmAt = argv.indexOf("--warm");
/** Logins made and closed on each fresh relay before the measured ones. */
const WARM = warmAt >= 0 ? Number(argv[warmAt + 1]) : 200;
const [nArg = "3000", repsArg = "2"] = argv.filter((a, i) => a !== "--protocol-floor" && a !== "--base" && argv[i - 1] !== "--base" && a !== "--warm" && argv[i - 1] !== "--warm");
const sys = require("./lib/system");
const { LoadgenPool } = require("./lib/loadgen");
const N = Number(nArg),
  REPS = Number(repsArg);
(async () => {
  const fake = await sys.startFake();
  const pool = await LoadgenPool.start(2);
  const kinds = ["gateway", ...BASES.keys(), ...(PROTOCOL ? ["protocol"] : []), "floor"];
  const out = Object.fromEntries(kinds.map((k) => [k, []]));
  for (let rep = 0; rep < REPS; rep++) {
    for (const kind of rep % 2 ? [...kinds].reverse() : kinds) {
      const relay =
        kind === "floor" || kind === "protocol"
          ? await sys.startFloor({ upstreamPort: fake.port, protocol: kind === "protocol" })
          : await sys.startGateway({ upstreamPort: fake.port, workers: 1, root: BASES.get(kind) });
      const args = (tag, count) => ({
        tag,
        url: relay.url,
        count,
        domain: "localhost",
        sasl: "PLAIN",
        srcCount: 8,
        concurrency: 100,
      });
      const w = await pool.login(args("warm", WARM), 300000);
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
  for (const k of kinds)
    console.log(
      k,
      "median rss KiB",
      med(out[k].map((r) => r.rssKiB)).toFixed(2),
      "setup µs",
      med(out[k].map((r) => r.setupUs)).toFixed(0),
    );
  const ratio = (k, field) => (med(out[k].map((r) => r[field])) / med(out.floor.map((r) => r[field]))).toFixed(2);
  for (const k of kinds.filter((k) => k !== "floor")) console.log(`${k} vs floor: rss ${ratio(k, "rssKiB")}x, setup ${ratio(k, "setupUs")}x`);
  const setup = (k) => med(out[k].map((r) => r.setupUs));
  for (const k of BASES.keys()) console.log(`${k}: setup ${(setup(k) - setup("gateway")).toFixed(0)} µs per login against this checkout's gateway`);
  await fake.stop();
  process.exit(0);
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
