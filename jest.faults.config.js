/**
 * The fault suite (`npm run test:faults`, docs/RELIABILITY.md): real gateway processes from dist/, real MariaDB and
 * Redis (private servers for the cases that stop or flush them), one file at a time. FAULTS_FAST=1 runs the marked
 * fast subset (`*.fast.fault.ts`) that CI runs after the main suite. `npm test` never picks these files up: its
 * testMatch is `*.spec.ts`.
 */
const base = require('./jest.config.js');

module.exports = {
  ...base,
  testMatch: [process.env.FAULTS_FAST ? '<rootDir>/test/faults/**/*.fast.fault.ts' : '<rootDir>/test/faults/**/*.fault.ts'],
  globalSetup: '<rootDir>/test/faults/support/global-setup.ts',
  testTimeout: 180_000,
};
