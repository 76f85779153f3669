// The dashboard's way to the HTTP API: the API key (kept in
// sessionStorage: this tab only) on every call, and the nodes it may ask
// (?nodes=http://a:8080,http://b:8080; by default the node that served
// the page). Any node answers for the whole cluster, so the first that
// answers is asked; the others are there for when it is down.

export const KEY_STORAGE = 'herald.apiKey';

export class AuthRequired extends Error {}

export class APIError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export const state = {
  nodes: [''], // base URLs; '' is the page's own node
  onAuthRequired: () => {},
};

export async function api(base, path, init = {}) {
  const headers = { ...init.headers };
  const key = sessionStorage.getItem(KEY_STORAGE);
  if (key) headers.Authorization = 'Bearer ' + key;
  let res;
  try {
    res = await fetch(base + path, { ...init, headers, cache: 'no-store' });
  } catch {
    // fetch says no more than this: the node is down, or (another node)
    // it does not allow this page's origin.
    throw new APIError(0, base ? 'unreachable, or no CORS for this page' : 'unreachable');
  }
  if (res.status === 401) throw new AuthRequired('API key required');
  const body = await res.json().catch(() => null);
  if (!res.ok) throw new APIError(res.status, body?.error?.message || `${res.status} ${res.statusText}`);
  return body;
}

// apiAny calls the first node listed that can be reached: any node of a
// cluster will do, and one of them may be down. A node that answers with
// an error is not passed over: the next would say the same. An AuthRequired
// also asks the user for the key.
export async function apiAny(path, init) {
  const { nodes } = state;
  for (const [i, base] of nodes.entries()) {
    try {
      return await api(base, path, init);
    } catch (err) {
      if (err instanceof AuthRequired) state.onAuthRequired();
      if (!(err instanceof APIError) || err.status !== 0 || i === nodes.length - 1) throw err;
    }
  }
}
