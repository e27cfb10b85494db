/** A failed connection to `url`, named: undici's own message is only "fetch failed". */
export class NodeUnreachableError extends Error {
  override readonly name = 'NodeUnreachableError';
}

/** The innermost cause's code and message (ECONNREFUSED 127.0.0.1:5000, ...). */
function describeCause(error: unknown): string {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current instanceof Error && current.cause !== undefined; depth += 1) current = current.cause;
  if (current instanceof Error) {
    const code = (current as Error & { code?: unknown }).code;
    return typeof code === 'string' && !current.message.includes(code) ? `${code}: ${current.message}` : current.message;
  }
  return String(current);
}

/** `fetch`, with a failure that says which URL could not be reached and why. */
export async function fetchFromNode(url: string | URL, init: RequestInit, fetcher: typeof fetch = fetch): Promise<Response> {
  try {
    return await fetcher(url, init);
  } catch (error) {
    throw new NodeUnreachableError(`cannot reach ${String(url)}: ${describeCause(error)}`, { cause: error });
  }
}
