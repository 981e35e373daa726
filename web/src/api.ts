// One client for the four dialects. Every answer comes in its dialect's envelope
// ({code, data, message|msg}); this unwraps `data` and turns any failure into an ApiError
// carrying the server's own message, which pages show as it is.
import { signal } from '@preact/signals';

export interface User {
  id: number;
  username: string;
  role: 'admin' | 'user';
}

export interface Session {
  token: string;
  user: User;
  expiresAt: number;
}

const STORAGE_KEY = 'gantry.session';

function loadSession(): Session | null {
  try {
    const raw = localStorage.getItem(STORAGE_KEY);
    if (!raw) return null;
    const session = JSON.parse(raw) as Session;
    return session.expiresAt > Date.now() ? session : null;
  } catch {
    return null;
  }
}

/** The signed-in user, or null. */
export const session = signal<Session | null>(loadSession());

export function signIn(next: Session) {
  session.value = next;
  localStorage.setItem(STORAGE_KEY, JSON.stringify(next));
  // The API browser at /docs sends this token with "Try it out".
  localStorage.setItem('gantry.token', next.token);
}

export function signOut() {
  session.value = null;
  localStorage.removeItem(STORAGE_KEY);
  localStorage.removeItem('gantry.token');
}

export function isAdmin(): boolean {
  return session.value?.user.role === 'admin';
}

export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code: string | number | null,
    readonly details: unknown = null,
  ) {
    super(message);
  }
}

type Body = unknown;

/** Calls a JSON route with the session's token; `data` of the envelope on success. */
export async function api<T>(method: string, path: string, body?: Body): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  const token = session.value?.token;
  if (token) headers.Authorization = `Bearer ${token}`;
  let payload: BodyInit | undefined;
  if (body instanceof FormData) payload = body;
  else if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  let response: Response;
  try {
    response = await fetch(path, { method, headers, body: payload });
  } catch (error) {
    throw new ApiError(error instanceof Error ? error.message : String(error), 0, 'NETWORK');
  }
  const text = await response.text();
  let envelope: Record<string, unknown> | null = null;
  try {
    envelope = text ? (JSON.parse(text) as Record<string, unknown>) : null;
  } catch {
    envelope = null;
  }
  if (!response.ok) {
    if (response.status === 401 && token) signOut();
    const message = (envelope?.message ?? envelope?.msg ?? text) || response.statusText;
    throw new ApiError(String(message), response.status, (envelope?.code as string | number) ?? null, envelope?.details ?? envelope?.data ?? null);
  }
  if (envelope && typeof envelope === 'object' && 'data' in envelope) return envelope.data as T;
  return envelope as T;
}

export const get = <T>(path: string) => api<T>('GET', path);
export const post = <T>(path: string, body?: Body) => api<T>('POST', path, body ?? {});
export const put = <T>(path: string, body?: Body) => api<T>('PUT', path, body ?? {});
export const del = <T>(path: string) => api<T>('DELETE', path);

/** A query string from the defined values of `params`. */
export function query(params: Record<string, string | number | boolean | undefined | null>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '') search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}
