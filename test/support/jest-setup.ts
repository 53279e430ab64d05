import { configurePublicIdsWith } from '../../src/infra/crypto/crypto.service';

/**
 * CLI commands under test report failure through process.exitCode, and the whole suite runs in one process
 * (--runInBand): a code left by one test must neither fail another test's check nor become jest's own exit code.
 */
beforeEach(() => {
  process.exitCode = undefined;
});
afterEach(() => {
  process.exitCode = undefined;
});

/**
 * Test code makes and reads public ids too (fixtures written with SQL, checks of stored rows): the codec gets the
 * subkey CryptoService gives it in the app, from the run's MASTER_KEY.
 */
if (process.env.MASTER_KEY) configurePublicIdsWith(process.env.MASTER_KEY);
