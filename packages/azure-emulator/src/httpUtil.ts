// Small HTTP helpers shared by the ARM server, the token server and the ingestion server.
import type { IncomingMessage, ServerResponse } from 'node:http';

export interface RequestTarget {
  /** Path with duplicate slashes collapsed, percent-decoded segments, no trailing slash. */
  path: string;
  /** Query parameters, names lowercased, values URL-decoded. */
  query: Record<string, string>;
}

function decode(value: string): string {
  try {
    return decodeURIComponent(value.replace(/\+/g, ' '));
  } catch {
    return value;
  }
}

/**
 * Splits a raw request target by hand: `new URL()` would read the `//subscriptions/...` the
 * authorization SDK sends as a protocol-relative URL with host "subscriptions".
 */
export function parseTarget(rawUrl: string): RequestTarget {
  const at = rawUrl.indexOf('?');
  const rawPath = at < 0 ? rawUrl : rawUrl.slice(0, at);
  const rawQuery = at < 0 ? '' : rawUrl.slice(at + 1);
  const segments = rawPath.split('/').filter(Boolean).map(decode);
  const query: Record<string, string> = {};
  for (const pair of rawQuery.split('&')) {
    if (!pair) continue;
    const eq = pair.indexOf('=');
    const name = decode(eq < 0 ? pair : pair.slice(0, eq)).toLowerCase();
    query[name] = eq < 0 ? '' : decode(pair.slice(eq + 1));
  }
  return { path: `/${segments.join('/')}`, query };
}

/** The request body as received (still compressed, if it was sent so). */
export function readRawBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

export async function readBody(req: IncomingMessage): Promise<string> {
  return (await readRawBody(req)).toString('utf8');
}

/** `statusMessage` replaces the standard reason phrase (Breeze says "400 Invalid instrumentation key"). */
export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
  statusMessage?: string,
): void {
  const text = body === undefined ? '' : JSON.stringify(body);
  if (statusMessage) res.statusMessage = statusMessage;
  res.writeHead(status, {
    ...headers,
    ...(text ? { 'Content-Type': 'application/json; charset=utf-8' } : {}),
    'Content-Length': Buffer.byteLength(text).toString(),
  });
  res.end(text);
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
