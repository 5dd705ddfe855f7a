// Faults of the state store, for the fault matrix: an HTTP proxy in front of Azurite (127.0.0.1) that,
// at the rate and from the draw it is given, makes a request meet the store unavailable (503 Server
// Busy, as Table storage answers when it is over its targets; or the connection dropped), slow (held
// past the app's 2 s state timeout), or losing a race to another instance (412 on an update, 409 on
// an insert: the answers Table storage gives a conditional write someone else got to first; Learn:
// storage/tables "Table service error codes": UpdateConditionNotSatisfied, EntityAlreadyExists).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { azuriteConnectionString } from '../../scripts/lib/azurite';

export type StateFault = 'unavailable' | 'dropped' | 'slow' | 'conflict';

export interface StateFaultProxy {
  /** An AzureWebJobsStorage value that goes through the proxy. */
  readonly connectionString: string;
  /** Faults injected so far, by kind. */
  readonly injected: Record<StateFault, number>;
  /** Requests forwarded untouched. */
  forwarded: number;
  /** Turns faults on (a draw per request) or off (undefined). */
  setDraw(draw: (() => StateFault | undefined) | undefined): void;
  close(): Promise<void>;
}

const SLOW_MS = 2_500;

export async function startStateFaultProxy(azuritePort: number): Promise<StateFaultProxy> {
  let draw: (() => StateFault | undefined) | undefined;
  const injected: Record<StateFault, number> = { unavailable: 0, dropped: 0, slow: 0, conflict: 0 };
  const proxy = {
    injected,
    forwarded: 0,
    connectionString: '',
    setDraw(next: (() => StateFault | undefined) | undefined) {
      draw = next;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
  const server = http.createServer((req, res) => {
    const fault = draw?.();
    const write =
      req.method === 'PUT' || req.method === 'POST' || req.method === 'MERGE' || req.method === 'PATCH';
    if (fault === 'conflict' && !write) {
      proxy.forwarded += 1;
      return forward(req, res, azuritePort, 0);
    }
    if (fault) injected[fault] += 1;
    switch (fault) {
      case 'unavailable':
        return tableError(res, 503, 'ServerBusy', 'The server is busy.');
      case 'dropped':
        req.socket.destroy();
        return;
      case 'slow':
        return forward(req, res, azuritePort, SLOW_MS);
      case 'conflict':
        return req.method === 'POST'
          ? tableError(res, 409, 'EntityAlreadyExists', 'The specified entity already exists.')
          : tableError(
              res,
              412,
              'UpdateConditionNotSatisfied',
              'The update condition specified in the request was not satisfied.',
            );
      default:
        proxy.forwarded += 1;
        return forward(req, res, azuritePort, 0);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  proxy.connectionString = azuriteConnectionString((server.address() as AddressInfo).port);
  return proxy;
}

function tableError(res: http.ServerResponse, status: number, code: string, message: string): void {
  res.writeHead(status, {
    'Content-Type': 'application/json;odata=minimalmetadata',
    'x-ms-error-code': code,
  });
  res.end(JSON.stringify({ 'odata.error': { code, message: { lang: 'en-US', value: message } } }));
}

function forward(req: http.IncomingMessage, res: http.ServerResponse, port: number, delayMs: number): void {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const send = () => {
      const upstream = http.request(
        {
          host: '127.0.0.1',
          port,
          method: req.method,
          path: req.url,
          headers: { ...req.headers, host: `127.0.0.1:${port}` },
        },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      upstream.on('error', () => {
        if (!res.headersSent) tableError(res, 503, 'ServerBusy', 'Azurite did not answer.');
      });
      upstream.end(Buffer.concat(chunks));
    };
    if (delayMs > 0) setTimeout(send, delayMs);
    else send();
  });
}
