/**
 * Reads a response body to its end or its failure. A connection cut mid-body (how a server
 * reports a failure after the headers went out) is `{ complete: false }`, not a throw.
 */
export async function readBody(response: Response): Promise<{ bytes: Buffer; complete: boolean }> {
  const chunks: Uint8Array[] = [];
  try {
    const reader = response.body?.getReader();
    for (;;) {
      const next = await reader?.read();
      if (!next || next.done) break;
      chunks.push(next.value);
    }
    return { bytes: Buffer.concat(chunks), complete: true };
  } catch {
    return { bytes: Buffer.concat(chunks), complete: false };
  }
}
