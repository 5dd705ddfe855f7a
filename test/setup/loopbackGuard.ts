// Every test runs with this guard: a connection to anything but loopback fails the test loudly,
// so no test can silently reach Azure, a metadata endpoint or the internet.
import net from 'node:net';

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost|::ffff:127\.\d+\.\d+\.\d+)$/i;

export function isLoopbackHost(host: string | undefined): boolean {
  return host === undefined || host === '' || LOOPBACK.test(host.replace(/^\[|\]$/g, ''));
}

/** Attempts are recorded so the after-env hook can fail the test file even if a library swallows the error. */
export const blockedConnections: string[] = [];
(globalThis as { __blockedConnections?: string[] }).__blockedConnections = blockedConnections;

const originalConnect = net.Socket.prototype.connect;
// biome-ignore lint/suspicious/noExplicitAny: connect has many overloads; we only inspect the target.
net.Socket.prototype.connect = function guardedConnect(this: net.Socket, ...args: any[]) {
  // http.request and net.connect hand over their arguments already normalised, as one array.
  const first = Array.isArray(args[0]) ? args[0][0] : args[0];
  let host: string | undefined;
  if (typeof first === 'object' && first !== null && !Array.isArray(first)) {
    if (typeof first.path === 'string') return originalConnect.apply(this, args as never);
    host = first.host ?? 'localhost';
  } else if (typeof first === 'number' || (typeof first === 'string' && /^\d+$/.test(first))) {
    host = typeof args[1] === 'string' ? args[1] : 'localhost';
  } else if (typeof first === 'string') {
    return originalConnect.apply(this, args as never); // unix socket path
  }
  if (!isLoopbackHost(host)) {
    blockedConnections.push(String(host));
    const error = new Error(`loopback guard: test tried to connect to non-loopback host '${host}'`);
    process.nextTick(() => this.destroy(error));
    return this;
  }
  return originalConnect.apply(this, args as never);
} as typeof net.Socket.prototype.connect;
