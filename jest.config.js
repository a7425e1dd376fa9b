'use strict';
// Three projects: `unit` (pure functions, no sockets), `integration` (real sockets on 127.0.0.1,
// a private Prosody started by the tests) and `e2e` (real outside tools: Tsung, …). All run in `npm test`.
const transform = { '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022' } }] };
const common = {
  transform,
  testEnvironment: 'node',
  moduleFileExtensions: ['ts', 'js', 'json'],
};
module.exports = {
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/tests/unit/**/*.test.ts'] },
    {
      ...common,
      displayName: 'integration',
      testMatch: ['<rootDir>/tests/integration/**/*.test.ts'],
    },
    { ...common, displayName: 'e2e', testMatch: ['<rootDir>/tests/e2e/**/*.test.ts'] },
  ],
  // Integration files start their own servers (Prosody, the gateway) on random ports; two at a
  // time fit the 2-core machines.
  maxWorkers: 2,
  reporters: ['default', '<rootDir>/tests/summary-reporter.js'],
  testTimeout: 60000,
};
