// Live state: one comfy-manager JSON WebSocket (/ws) per signed-in tab, reconnecting with
// backoff. Pages subscribe to message types (instance_status, global_status, task_progress,
// task_completed, task_failed, execution_finished, vm_status) with useLive.
import { effect, signal } from '@preact/signals';
import { useEffect, useRef } from 'preact/hooks';
import { session } from './api';

export interface LiveMessage {
  type: string;
  timestamp?: number;
  data: Record<string, unknown>;
}

type Listener = (message: LiveMessage) => void;

const listeners = new Set<Listener>();
/** Whether the live connection is open (shown in the header). */
export const connected = signal(false);

let socket: WebSocket | null = null;
let retry = 0;
let timer: number | undefined;

function open(token: string) {
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  const ws = new WebSocket(`${scheme}://${location.host}/ws?token=${encodeURIComponent(token)}`);
  socket = ws;
  ws.onopen = () => {
    retry = 0;
    connected.value = true;
  };
  ws.onmessage = (event) => {
    let message: LiveMessage;
    try {
      message = JSON.parse(String(event.data)) as LiveMessage;
    } catch {
      return;
    }
    for (const listener of listeners) listener(message);
  };
  ws.onclose = () => {
    connected.value = false;
    if (socket !== ws) return;
    socket = null;
    const current = session.value;
    if (!current) return;
    retry = Math.min(retry + 1, 6);
    timer = window.setTimeout(() => open(current.token), 500 * 2 ** retry);
  };
}

effect(() => {
  const current = session.value;
  window.clearTimeout(timer);
  const previous = socket;
  socket = null;
  previous?.close();
  if (current) open(current.token);
});

/** Calls `handler` for every live message of one of `types` while the component is mounted. */
export function useLive(types: string[], handler: Listener) {
  const latest = useRef(handler);
  latest.current = handler;
  const key = types.join(',');
  useEffect(() => {
    const wanted = key.split(',');
    const listener: Listener = (message) => {
      if (wanted.includes(message.type)) latest.current(message);
    };
    listeners.add(listener);
    return () => {
      listeners.delete(listener);
    };
  }, [key]);
}
