/** The JSON body of every refusal: what went wrong and, where it applies, which field. */
export interface ErrorBody {
  error: string;
  field?: string;
}

export function jsonError(status: number, error: string, extra: Partial<ErrorBody> & Record<string, unknown> = {}, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify({ error, ...extra }), {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8', ...headers },
  });
}
