import http from 'node:http';

it('the loopback guard blocks and records a plain http.request to a non-loopback address', async () => {
  const g = (globalThis as { __blockedConnections?: string[] }).__blockedConnections ?? [];
  await new Promise<void>((resolve) => {
    const req = http.request({ host: '169.254.169.254', port: 80, path: '/', timeout: 500 }, () => resolve());
    req.on('error', () => resolve());
    req.end();
  });
  expect(g).toContain('169.254.169.254');
  g.length = 0;
});
