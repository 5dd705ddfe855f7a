// Fails a test file whose code tried a non-loopback connection, even if the library that tried
// swallowed the error (telemetry exporters do).
afterAll(() => {
  const blocked = (globalThis as { __blockedConnections?: string[] }).__blockedConnections ?? [];
  if (blocked.length > 0) {
    throw new Error(`non-loopback connections were attempted: ${[...new Set(blocked)].join(', ')}`);
  }
});
