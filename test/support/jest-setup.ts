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
