import { userInfo } from 'node:os';

import { Command, Option } from 'commander';

import { loadConfig } from '../../infra/config/load-config';
import { SIGNING_ALGS, SigningAlg } from '../../modules/signing/key-material';
import { SigningService } from '../../modules/signing/signing.service';
import { createTrustCoreContext } from '../../modules/signing/trust-core.context';

async function withSigning<T>(work: (signing: SigningService) => Promise<T>): Promise<T> {
  const app = await createTrustCoreContext(loadConfig());
  try {
    return await work(app.get(SigningService));
  } finally {
    await app.close();
  }
}

/** `keys:list` and `keys:rotate`: the gateway signing keys (public facts only, never private material). */
export function register(program: Command): void {
  program
    .command('keys:list')
    .description('list gateway signing keys: kid, alg, status, and whether the JWKS still publishes each')
    .action(async () => {
      const keys = await withSigning((s) => s.listKeys());
      console.log(JSON.stringify(keys, null, 2));
    });

  program
    .command('keys:rotate')
    .description('create a new ACTIVE signing key; the previous one retires but stays published while its artefacts live')
    .addOption(new Option('--alg <alg>', 'algorithm of the new key').choices(SIGNING_ALGS).default('ES256'))
    .action(async (opts: { alg: SigningAlg }) => {
      const actor = { actorType: 'admin' as const, actorId: `cli:${userInfo().username}` };
      const key = await withSigning((s) => s.rotate(actor, opts.alg));
      console.log(JSON.stringify(key, null, 2));
    });
}
