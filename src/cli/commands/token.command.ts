import { randomUUID } from 'node:crypto';

import { Command, InvalidArgumentError, Option } from 'commander';
import { sign } from 'jsonwebtoken';

import { cliConfig, CliError } from '../cli-context';

export const PLATFORM_ROLES = ['platform', 'user', 'admin', 'compliance'] as const;

const DEVELOPMENT_ONLY = 'token minting is development-only: run it with NODE_ENV=development (or test); unset NODE_ENV means production';

const positiveInt = (value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('must be a positive whole number of seconds');
  return n;
};

export function register(program: Command): void {
  program
    .command('token')
    .description('mint a development platform JWT (HS256, PLATFORM_JWT_SECRET) for a role; refused in production')
    .addOption(new Option('--role <role>', 'role carried in the `roles` claim').choices(PLATFORM_ROLES).makeOptionMandatory())
    .option('--sub <id>', 'subject: the platform user or service id (default dev-<role>)')
    .option('--ttl <seconds>', 'lifetime in seconds (default 3600; at most PLATFORM_JWT_MAX_LIFETIME_SECONDS)', positiveInt)
    .action((opts: { role: string; sub?: string; ttl?: number }) => {
      // Checked before the configuration too: a production environment must never be one typo away from a token.
      // Unset NODE_ENV is production (load-config.ts), so a developer asks for development explicitly.
      if (!process.env.NODE_ENV || process.env.NODE_ENV === 'production') throw new CliError(DEVELOPMENT_ONLY);
      const config = cliConfig();
      if (config.nodeEnv === 'production') throw new CliError(DEVELOPMENT_ONLY);
      const { secret, issuer, audience, maxLifetimeSeconds } = config.platformJwt;
      if (!secret) {
        throw new CliError('PLATFORM_JWT_SECRET is not set: with PLATFORM_JWT_PUBLIC_KEY only the identity provider can issue tokens');
      }
      // The gateway refuses a longer-lived token, so minting one would only hand the developer a useless credential.
      const ttl = opts.ttl ?? Math.min(3600, maxLifetimeSeconds);
      if (ttl > maxLifetimeSeconds) {
        throw new CliError(`--ttl ${ttl} exceeds PLATFORM_JWT_MAX_LIFETIME_SECONDS (${maxLifetimeSeconds}), the longest lifetime accepted`);
      }
      const token = sign({ roles: [opts.role] }, secret, {
        algorithm: 'HS256',
        issuer,
        audience,
        subject: opts.sub ?? `dev-${opts.role}`,
        expiresIn: ttl,
        jwtid: randomUUID(),
      });
      // Only the token on stdout, so that TOKEN=$(npm run -s cli -- token --role admin) works.
      console.log(token);
    });
}
