/** Unit specs live beside nothing but themselves in test/unit; integration specs use real MySQL and Redis. */
const swc = [
  '@swc/jest',
  {
    jsc: {
      parser: { syntax: 'typescript', decorators: true },
      transform: { legacyDecorator: true, decoratorMetadata: true },
      target: 'es2022',
      keepClassNames: true,
    },
    module: { type: 'commonjs' },
  },
];

const fs = require('node:fs');
const path = require('node:path');

function esmPackages() {
  const root = path.join(__dirname, 'node_modules');
  const names = [];
  const visit = (name) => {
    try {
      const pkg = JSON.parse(fs.readFileSync(path.join(root, name, 'package.json'), 'utf8'));
      if (pkg.type === 'module') names.push(name.replace(/[.]/g, '\\.'));
    } catch {
      // not a package folder
    }
  };
  for (const entry of fs.existsSync(root) ? fs.readdirSync(root) : []) {
    if (entry.startsWith('@')) for (const sub of fs.readdirSync(path.join(root, entry))) visit(`${entry}/${sub}`);
    else if (!entry.startsWith('.')) visit(entry);
  }
  return names;
}

module.exports = {
  testEnvironment: 'node',
  // NestJS 12, jose and a few of their dependencies ship only as ES modules. The app runs them through Node's
  // require(esm); jest on Node 20 cannot, so swc converts exactly the packages that declare "type": "module".
  transform: { '^.+\\.(ts|js|mjs)$': swc },
  transformIgnorePatterns: [`/node_modules/(?!(${esmPackages().join('|')})/)`],
  moduleFileExtensions: ['ts', 'js', 'json'],
  testMatch: ['<rootDir>/test/**/*.spec.ts'],
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  globalTeardown: '<rootDir>/test/support/global-teardown.ts',
  setupFiles: ['reflect-metadata'],
  setupFilesAfterEnv: ['<rootDir>/test/support/jest-setup.ts'],
  testTimeout: 30000,
};
