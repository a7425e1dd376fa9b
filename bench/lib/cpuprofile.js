'use strict';
/**
 * Summarises a V8 `.cpuprofile` (node --cpu-prof): self time per function and per source line,
 * with positions in dist/*.js mapped back to src/*.ts through the compiler's source maps, and a
 * breakdown by where the time went (gateway code, ws, pino, prom-client, Node internals, GC, idle).
 */
const fs = require('node:fs');
const path = require('node:path');
const { fileURLToPath } = require('node:url');

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const B64_INDEX = new Map([...B64].map((c, i) => [c, i]));

/** Decodes a source map's `mappings` into per-generated-line arrays of [col, srcIndex, srcLine, srcCol]. */
function decodeMappings(mappings) {
  const lines = [];
  let src = 0;
  let srcLine = 0;
  let srcCol = 0;
  for (const lineText of mappings.split(';')) {
    const segs = [];
    let col = 0;
    if (lineText.length > 0) {
      for (const seg of lineText.split(',')) {
        const vals = [];
        let value = 0;
        let shift = 0;
        for (const ch of seg) {
          const digit = B64_INDEX.get(ch);
          value += (digit & 31) << shift;
          if (digit & 32) shift += 5;
          else {
            vals.push(value & 1 ? -(value >>> 1) : value >>> 1);
            value = 0;
            shift = 0;
          }
        }
        col += vals[0];
        if (vals.length >= 4) {
          src += vals[1];
          srcLine += vals[2];
          srcCol += vals[3];
          segs.push([col, src, srcLine, srcCol]);
        }
      }
    }
    lines.push(segs);
  }
  return lines;
}

const maps = new Map();
function sourceMapFor(file) {
  if (maps.has(file)) return maps.get(file);
  let map = null;
  try {
    const raw = JSON.parse(fs.readFileSync(`${file}.map`, 'utf8'));
    map = { sources: raw.sources.map((s) => path.resolve(path.dirname(file), raw.sourceRoot || '', s)), lines: decodeMappings(raw.mappings) };
  } catch {
    map = null;
  }
  maps.set(file, map);
  return map;
}

/** Generated 0-based (line, col) → { file, line (1-based) } in the original source, or null. */
function originalPosition(file, line, col) {
  const map = sourceMapFor(file);
  if (map === null || line < 0 || line >= map.lines.length) return null;
  const segs = map.lines[line];
  let best = null;
  for (const s of segs) {
    if (s[0] <= col) best = s;
    else break;
  }
  if (best === null) best = segs[0];
  if (!best) return null;
  return { file: map.sources[best[1]], line: best[2] + 1 };
}

function displayPath(file, root) {
  const rel = path.relative(root, file);
  return rel.startsWith('..') ? file : rel;
}

function category(url, name) {
  if (name === '(garbage collector)') return 'GC';
  if (name === '(idle)') return 'idle (waiting for I/O)';
  if (name === '(program)') return '(program): V8/native outside JS';
  if (url.includes('/node_modules/ws/')) return 'ws';
  if (url.includes('/node_modules/pino')) return 'pino';
  if (url.includes('/node_modules/prom-client/') || url.includes('/node_modules/tdigest') || url.includes('/node_modules/bintrees')) return 'prom-client';
  if (url.includes('/dist/')) return 'gateway (dist/ → src/)';
  if (url.startsWith('node:') || url === '') return 'Node internals / native';
  if (url.includes('/node_modules/')) return 'other node_modules';
  return 'other';
}

/**
 * @param {string} file a .cpuprofile
 * @param {string} root paths are shown relative to it
 */
function summarize(file, root) {
  const profile = JSON.parse(fs.readFileSync(file, 'utf8'));
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parentOf = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parentOf.set(c, n.id);
  const whereOf = (n) => {
    const { functionName, url, lineNumber, columnNumber } = n.callFrame;
    if (!url.startsWith('file://')) return `${functionName || '(anonymous)'} ${url ? `${url}:${lineNumber + 1}` : ''}`.trim();
    const abs = fileURLToPath(url);
    const orig = url.includes('/dist/') ? originalPosition(abs, lineNumber, columnNumber) : null;
    return `${functionName || '(anonymous)'} ${orig ? `${displayPath(orig.file, root)}:${orig.line}` : `${displayPath(abs, root)}:${lineNumber + 1}`}`;
  };
  /** Nearest caller in the gateway's own code (or the floor relay / ws if there is none). */
  const ownCaller = (id) => {
    let fallback = null;
    for (let cur = parentOf.get(id), d = 0; cur !== undefined && d < 60; cur = parentOf.get(cur), d++) {
      const n = byId.get(cur);
      const u = n.callFrame.url;
      if (u.includes('/dist/') || u.includes('/bench/lib/')) return whereOf(n);
      if (fallback === null && u.includes('/node_modules/ws/')) fallback = whereOf(n);
    }
    return fallback;
  };
  const selfUs = new Map();
  const { samples, timeDeltas } = profile;
  for (let i = 0; i < samples.length; i++) {
    const dt = i + 1 < timeDeltas.length ? timeDeltas[i + 1] : 0;
    selfUs.set(samples[i], (selfUs.get(samples[i]) ?? 0) + Math.max(0, dt));
  }
  const total = [...selfUs.values()].reduce((a, b) => a + b, 0);
  const functions = new Map();
  const lines = new Map();
  const categories = new Map();
  let idle = 0;
  for (const [id, us] of selfUs) {
    const node = byId.get(id);
    const { functionName, url, lineNumber, columnNumber } = node.callFrame;
    const name = functionName || '(anonymous)';
    const cat = category(url, name);
    categories.set(cat, (categories.get(cat) ?? 0) + us);
    if (name === '(idle)') idle += us;
    let where = url;
    let local = null;
    if (url.startsWith('file://')) {
      const abs = fileURLToPath(url);
      const orig = url.includes('/dist/') ? originalPosition(abs, lineNumber, columnNumber) : null;
      where = orig ? `${displayPath(orig.file, root)}:${orig.line}` : `${displayPath(abs, root)}:${lineNumber + 1}`;
      local = abs;
    } else if (url) {
      where = `${url}:${lineNumber + 1}`;
    }
    const key = `${name} ${where}`;
    const f = functions.get(key) ?? { name, where, us: 0, category: cat, callers: new Map() };
    f.us += us;
    functions.set(key, f);
    const caller = ownCaller(id);
    if (caller !== null) f.callers.set(caller, (f.callers.get(caller) ?? 0) + us);
    // Line-level self time: positionTicks are per sampled line of this node (1-based, generated).
    const ticks = node.positionTicks ?? [];
    const tickSum = ticks.reduce((s, t) => s + t.ticks, 0);
    for (const t of ticks) {
      let lineWhere;
      if (local !== null) {
        const orig = url.includes('/dist/') ? originalPosition(local, t.line - 1, 0) : null;
        lineWhere = orig ? `${displayPath(orig.file, root)}:${orig.line}` : `${displayPath(local, root)}:${t.line}`;
      } else lineWhere = `${url || name}:${t.line}`;
      const k = `${lineWhere}`;
      const l = lines.get(k) ?? { where: lineWhere, fn: name, us: 0 };
      l.us += (us * t.ticks) / tickSum;
      lines.set(k, l);
    }
  }
  const busy = total - idle;
  const sortDesc = (m) => [...m.values()].sort((a, b) => b.us - a.us);
  return {
    totalMs: total / 1000,
    busyMs: busy / 1000,
    samples: samples.length,
    functions: sortDesc(functions).map((f) => {
      const top = [...f.callers.entries()].sort((a, b) => b[1] - a[1])[0];
      return { ...f, pctBusy: (100 * f.us) / busy, caller: top ? { where: top[0], share: top[1] / f.us } : null };
    }),
    lines: sortDesc(lines).map((l) => ({ ...l, pctBusy: (100 * l.us) / busy })),
    categories: [...categories.entries()].map(([name, us]) => ({ name, us, pctBusy: name.startsWith('idle') ? null : (100 * us) / busy })).sort((a, b) => b.us - a.us),
  };
}

module.exports = { summarize, originalPosition, decodeMappings };
