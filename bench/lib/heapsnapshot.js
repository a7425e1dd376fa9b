'use strict';
/**
 * Reads a V8 `.heapsnapshot` and totals self size and count per (type, constructor/name), so two
 * snapshots can be subtracted: what N more sessions added to the JavaScript heap, object by object.
 * Strings, numbers and code are totalled per type, not per content.
 */
const fs = require('node:fs');

const PER_TYPE = new Set(['string', 'concatenated string', 'sliced string', 'number', 'code', 'hidden', 'regexp', 'bigint']);

function totals(file) {
  const snap = JSON.parse(fs.readFileSync(file, 'utf8'));
  const meta = snap.snapshot.meta;
  const fields = meta.node_fields;
  const width = fields.length;
  const typeAt = fields.indexOf('type');
  const nameAt = fields.indexOf('name');
  const sizeAt = fields.indexOf('self_size');
  const types = meta.node_types[typeAt];
  const { nodes, strings } = snap;
  const out = new Map();
  let total = 0;
  for (let i = 0; i < nodes.length; i += width) {
    const type = types[nodes[i + typeAt]];
    const size = nodes[i + sizeAt];
    const name = PER_TYPE.has(type) ? '(all)' : strings[nodes[i + nameAt]] || '(anonymous)';
    const key = `${type}\u0000${name.length > 80 ? `${name.slice(0, 77)}...` : name}`;
    const t = out.get(key);
    if (t === undefined) out.set(key, { type, name: name.length > 80 ? `${name.slice(0, 77)}...` : name, count: 1, size });
    else {
      t.count++;
      t.size += size;
    }
    total += size;
  }
  return { byKey: out, total };
}

/** `after − before`, per key, sorted by size added. */
function diff(beforeFile, afterFile) {
  const a = totals(beforeFile);
  const b = totals(afterFile);
  const rows = [];
  for (const [key, t] of b.byKey) {
    const was = a.byKey.get(key) ?? { count: 0, size: 0 };
    rows.push({ type: t.type, name: t.name, count: t.count - was.count, size: t.size - was.size });
  }
  for (const [key, t] of a.byKey) if (!b.byKey.has(key)) rows.push({ type: t.type, name: t.name, count: -t.count, size: -t.size });
  rows.sort((x, y) => y.size - x.size);
  return { rows, totalBefore: a.total, totalAfter: b.total };
}

module.exports = { totals, diff };
