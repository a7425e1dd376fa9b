#!/usr/bin/env node
'use strict';
let main;
try {
  ({ main } = require('../dist/main.js'));
} catch (err) {
  if (err && err.code === 'MODULE_NOT_FOUND' && /dist[\\/]main\.js/.test(err.message)) {
    process.stderr.write('xmpp-ws-gateway: not built yet; run `npm ci && npm run build` in the checkout first\n');
    process.exit(1);
  }
  throw err;
}
main().catch((err) => {
  process.stderr.write(`xmpp-ws-gateway: ${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
});
