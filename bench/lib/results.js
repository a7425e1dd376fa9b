'use strict';
/**
 * bench/RESULTS.md: each benchmark script owns generated sections between BEGIN/END markers and
 * rewrites only those, so hand-written notes around them survive; plus the environment lines every
 * section starts with (date, machine, Node, load average), because figures from a shared machine
 * mean little without them.
 */
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const sys = require('./system');

const RESULTS = path.join(__dirname, '..', 'RESULTS.md');

/** Replaces (or appends) the section `kind` of `script` (e.g. 'run.js', 'storm.js'). */
function writeSection(script, kind, body) {
  const begin = `<!-- BEGIN bench/${script} ${kind} (generated; rewritten by each run) -->`;
  const end = `<!-- END bench/${script} ${kind} -->`;
  let text = fs.existsSync(RESULTS) ? fs.readFileSync(RESULTS, 'utf8') : '';
  const block = `${begin}\n${body.trim()}\n${end}`;
  const a = text.indexOf(begin);
  const b = text.indexOf(end);
  if (a >= 0 && b > a) text = text.slice(0, a) + block + text.slice(b + end.length);
  else text = `${text.trimEnd()}\n\n${block}\n`;
  fs.writeFileSync(RESULTS, text);
  return path.relative(sys.ROOT, RESULTS);
}

function environment(startLoad) {
  return [
    `- **Date:** ${new Date().toISOString().replace('T', ' ').slice(0, 16)} UTC`,
    `- **Machine:** \`nproc\` = ${os.availableParallelism()}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, ${os.cpus()[0]?.model ?? '?'}, Linux ${os.release()}; shared and noisy`,
    `- **Node:** ${process.version}; load average at start ${startLoad}, at end ${sys.loadAverage()}`,
  ].join('\n');
}

module.exports = { RESULTS, writeSection, environment };
