// The bearer-token policy hands each request's abort signal to getToken, but a credential may retry
// internally for longer than our time budget (the managed-identity client does, when its endpoint
// fails). This wrapper makes getToken give up when the signal fires.
import type { AccessToken, GetTokenOptions, TokenCredential } from '@azure/core-auth';

export function abortableCredential(inner: TokenCredential): TokenCredential {
  return {
    getToken(scopes: string | string[], options?: GetTokenOptions): Promise<AccessToken | null> {
      const signal = options?.abortSignal;
      const token = inner.getToken(scopes, options);
      if (!signal) return token;
      if (signal.aborted) return Promise.reject(abortError());
      return new Promise<AccessToken | null>((resolve, reject) => {
        const onAbort = () => reject(abortError());
        signal.addEventListener('abort', onAbort, { once: true });
        token.then(
          (value) => {
            signal.removeEventListener('abort', onAbort);
            resolve(value);
          },
          (error: unknown) => {
            signal.removeEventListener('abort', onAbort);
            reject(error);
          },
        );
      });
    },
  };
}

function abortError(): Error {
  const error = new Error('getting a token was abandoned: the time budget ran out');
  error.name = 'AbortError';
  return error;
}
