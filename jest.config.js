/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test', '<rootDir>/packages/azure-emulator/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': 'ts-jest' },
  setupFiles: ['<rootDir>/test/setup/loopbackGuard.ts'],
  setupFilesAfterEnv: ['<rootDir>/test/setup/failOnBlockedConnections.ts'],
  testTimeout: 30000,
};
