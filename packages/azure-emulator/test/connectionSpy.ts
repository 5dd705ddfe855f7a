// Records where every socket of this test file connects, including the calls the shared loopback
// guard does not inspect: `http.request` and `net.connect` hand `Socket#connect` their arguments
// already normalized, as an array whose first element holds `{host, port}`.
import net from 'node:net';

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost|::ffff:127\.\d+\.\d+\.\d+)$/i;

type Connect = typeof net.Socket.prototype.connect;

function targetOf(args: unknown[]): string | undefined {
  const first = Array.isArray(args[0]) ? args[0][0] : args[0];
  if (typeof first === 'object' && first !== null) {
    const options = first as { host?: string; port?: number; path?: string };
    if (typeof options.path === 'string') return undefined; // a unix socket
    return `${options.host ?? 'localhost'}:${options.port ?? ''}`;
  }
  if (typeof first === 'number' || (typeof first === 'string' && /^\d+$/.test(first)))
    return `${typeof args[1] === 'string' ? args[1] : 'localhost'}:${first}`;
  return undefined; // a unix socket path
}

export interface ConnectionSpy {
  /** `host:port` of every connection attempt, in order. */
  readonly targets: string[];
  /** The attempts whose host is not loopback. */
  nonLoopback(): string[];
  stop(): void;
}

export function spyOnConnections(): ConnectionSpy {
  const original: Connect = net.Socket.prototype.connect;
  const targets: string[] = [];
  const spy = function spiedConnect(this: net.Socket, ...args: unknown[]) {
    const target = targetOf(args);
    if (target) targets.push(target);
    return original.apply(this, args as never);
  } as Connect;
  net.Socket.prototype.connect = spy;
  return {
    targets,
    nonLoopback: () =>
      targets.filter((t) => !LOOPBACK.test(t.slice(0, t.lastIndexOf(':')).replace(/^\[|\]$/g, ''))),
    stop() {
      if (net.Socket.prototype.connect === spy) net.Socket.prototype.connect = original;
    },
  };
}
