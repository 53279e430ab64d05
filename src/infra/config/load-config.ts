import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

import { AppConfig, appConfigSchema, ENVIRONMENT_VARIABLES, SECRET_PATHS } from './app-config';

export class ConfigurationError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigurationError';
  }
}

type Tree = Record<string, unknown>;

/** The repository's config/ folder, found upwards from this file (works from src/ under jest and from dist/). */
function configDir(): string {
  for (let dir = __dirname; dir !== dirname(dir); dir = dirname(dir)) {
    if (existsSync(join(dir, 'config', 'default.json'))) return join(dir, 'config');
  }
  return resolve(process.cwd(), 'config');
}

function readJson(file: string): Tree {
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Tree) : {};
}

function deepMerge(base: Tree, over: Tree): Tree {
  const out: Tree = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] = v && typeof v === 'object' && !Array.isArray(v) && b && typeof b === 'object' ? deepMerge(b as Tree, v as Tree) : v;
  }
  return out;
}

function setPath(tree: Tree, path: string, value: unknown): void {
  const keys = path.split('.');
  let node = tree;
  for (const k of keys.slice(0, -1)) node = (node[k] ??= {}) as Tree;
  node[keys[keys.length - 1]] = value;
}

/** Reads `NAME`, or the file named by `NAME_FILE` (for secrets mounted as files). */
function envValue(env: NodeJS.ProcessEnv, name: string): string | undefined {
  if (env[name] !== undefined && env[name] !== '') return env[name];
  const file = env[`${name}_FILE`];
  return file ? readFileSync(file, 'utf8').trim() : undefined;
}

/**
 * Development generates its own secrets on first run and keeps them outside the repository
 * (`.local/dev-secrets.json`, git-ignored), so nobody ever commits a key.
 */
function developmentSecrets(): { masterKey: string; platformJwtSecret: string } {
  const file = join(process.cwd(), '.local', 'dev-secrets.json');
  if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8'));
  const secrets = {
    masterKey: randomBytes(32).toString('base64'),
    platformJwtSecret: randomBytes(32).toString('base64url'),
  };
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify(secrets, null, 2), { mode: 0o600 });
  return secrets;
}

const pathToEnv = Object.fromEntries(Object.entries(ENVIRONMENT_VARIABLES).map(([env, path]) => [path, env]));

const NODE_ENVS = ['development', 'test', 'production'] as const;

/**
 * Unset means production: a deployment that forgets NODE_ENV gets production's rules (no HS256 tokens, no generated
 * secrets, SSRF guard and Bull Board as in production), never development's. Development is asked for explicitly.
 * Anything else is refused before a config/<NODE_ENV>.json path is built from it.
 */
function nodeEnvOf(env: NodeJS.ProcessEnv): (typeof NODE_ENVS)[number] {
  const value = env.NODE_ENV;
  if (value === undefined || value === '') return 'production';
  if (!(NODE_ENVS as readonly string[]).includes(value)) {
    throw new ConfigurationError([`NODE_ENV (nodeEnv): must be development, test or production (unset means production)`]);
  }
  return value as (typeof NODE_ENVS)[number];
}

/** Added to the problems when NODE_ENV was left unset, since the production rules then apply silently. */
const UNSET_NODE_ENV_HINT =
  'NODE_ENV is not set, so the production rules apply; set NODE_ENV=development (or test) explicitly for a development run';

/** Defaults from config/default.json, then config/<NODE_ENV>.json, then environment variables. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  const nodeEnv = nodeEnvOf(env);
  const dir = configDir();
  const tree = deepMerge(readJson(join(dir, 'default.json')), readJson(join(dir, `${nodeEnv}.json`)));
  tree.nodeEnv = nodeEnv;
  for (const [name, path] of Object.entries(ENVIRONMENT_VARIABLES)) {
    if (name === 'NODE_ENV') continue; // resolved above
    const value = envValue(env, name);
    if (value !== undefined) setPath(tree, path, value);
  }
  if (nodeEnv === 'development') {
    const platform = (tree.platformJwt ?? {}) as Tree;
    if (!tree.masterKey || (!platform.publicKey && !platform.secret)) {
      const dev = developmentSecrets();
      tree.masterKey ??= dev.masterKey;
      if (!platform.publicKey && !platform.secret) setPath(tree, 'platformJwt.secret', dev.platformJwtSecret);
    }
  }
  const parsed = appConfigSchema.safeParse(tree);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const path = issue.path.join('.');
      const envName = pathToEnv[path];
      return `${envName ? `${envName} (${path})` : path}: ${issue.message}`;
    });
    throw new ConfigurationError(env.NODE_ENV ? problems : [...problems, UNSET_NODE_ENV_HINT]);
  }
  return parsed.data;
}

/** The effective configuration with secrets masked, for `cli config` and start-up logs. */
export function maskedConfig(config: AppConfig): Tree {
  const copy = JSON.parse(JSON.stringify(config)) as Tree;
  for (const path of SECRET_PATHS) {
    const keys = path.split('.');
    let node: Tree | undefined = copy;
    for (const k of keys.slice(0, -1)) node = node?.[k] as Tree | undefined;
    const last = keys[keys.length - 1];
    if (node && node[last] !== undefined) node[last] = maskValue(path, String(node[last]));
  }
  return copy;
}

function maskValue(path: string, value: string): string {
  if (path.endsWith('Url')) {
    try {
      const u = new URL(value);
      if (u.password) u.password = '****';
      return u.toString();
    } catch {
      return '****';
    }
  }
  return '****';
}
