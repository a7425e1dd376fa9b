'use strict';
// Three projects, selected with `--selectProjects` (npm run test:unit / test:integration / test:e2e):
//   unit         pure functions, no sockets, no processes;
//   integration  real sockets on 127.0.0.1: the gateway in-process or as the CLI, scripted fake
//                XMPP servers, raw WebSocket clients;
//   e2e          real third-party parts: a private Prosody or ejabberd, the reverse proxies, Chromium,
//                Prometheus/promtool, containers, the real client libraries, load against Prosody.
// `npm test` runs all three.
const transform = { '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022' } }] };
const common = {
  transform,
  testEnvironment: 'node',
  moduleFileExtensions: ['ts', 'js', 'json'],
};
module.exports = {
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/tests/unit/**/*.test.ts'] },
    { ...common, displayName: 'integration', testMatch: ['<rootDir>/tests/integration/**/*.test.ts'] },
    { ...common, displayName: 'e2e', testMatch: ['<rootDir>/tests/e2e/**/*.test.ts'] },
  ],
  // Integration and e2e files start their own servers (Prosody, the gateway) on random ports; two at
  // a time fit the 2-core machines.
  maxWorkers: 2,
  reporters: ['default', '<rootDir>/tests/summary-reporter.js'],
  testTimeout: 60000,
};
