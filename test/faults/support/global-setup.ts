import { ensureBuilt } from '../../support/built-dist';
import runGlobalSetup from '../../support/global-setup';

/** The run's database and Redis prefix as for `npm test`, and a current dist/: the cases run the built gateway. */
export default async function globalSetup() {
  await runGlobalSetup();
  ensureBuilt();
}
