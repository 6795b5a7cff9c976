// The test suite as four jest projects, one folder each under test/ (shared helpers stay in
// test/harness/, test/fuzz/ and test/fixtures/). `npx jest` runs them all; `npx jest
// --selectProjects unit` runs one.
//
//   unit         no memcached server, no python3: pure logic, the compiled addon without I/O to a
//                server, committed fixtures instead of live pylibmc (scripts/test-unit-isolated.sh
//                proves it on a PATH without either)
//   integration  against real memcached servers (test/harness/memcached.ts) and the real pylibmc
//   lifecycle    process exit, worker termination and garbage collection with clients alive
//   build        the built addon and the packed package (ldd, nm, npm pack, a prebuild)

/** What every project shares: TypeScript through ts-jest, in Node. */
const shared = {
  preset: 'ts-jest',
  testEnvironment: 'node',
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }],
  },
};

const project = (name) => ({ ...shared, displayName: name, roots: [`<rootDir>/test/${name}`] });

/** @type {import('jest').Config} */
module.exports = {
  // Global options: jest reads these once for the whole run, not per project.
  testTimeout: 30000,
  // Two cores: more workers than that only adds contention with the memcached servers.
  maxWorkers: 2,
  projects: ['unit', 'integration', 'lifecycle', 'build'].map(project),
};
