// Pieces the three operator pages share: the admins-only gate, translated state badges and a
// throttle for refetching on bursts of live messages.
import type { ComponentChildren } from 'preact';
import { useCallback, useEffect, useRef } from 'preact/hooks';
import { isAdmin } from '../../api';
import { messages } from '../../i18n';

export const states = messages(
  {
    alive: 'Alive',
    dead: 'Down',
    busy: 'Busy',
    idle: 'Idle',
    enabled: 'Enabled',
    disabled: 'Disabled',
    pending: 'Pending',
    running: 'Running',
    completed: 'Completed',
    failed: 'Failed',
    cancelled: 'Cancelled',
    adminOnly: 'This page is for administrators.',
  },
  {
    alive: '在线',
    dead: '离线',
    busy: '忙碌',
    idle: '空闲',
    enabled: '已启用',
    disabled: '已停用',
    pending: '排队中',
    running: '运行中',
    completed: '已完成',
    failed: '失败',
    cancelled: '已取消',
    adminOnly: '此页面仅限管理员使用。',
  },
);

export type State = 'alive' | 'dead' | 'busy' | 'idle' | 'enabled' | 'disabled' | 'pending' | 'running' | 'completed' | 'failed' | 'cancelled';

/** A coloured badge with the state's name in the chosen language. */
export function Badge({ state, testid }: { state: State; testid?: string }) {
  return (
    <span class={`badge status-${state}`} data-testid={testid} data-state={state}>
      {states(state)}
    </span>
  );
}

/** Renders `children` for admins, a note for anyone else (the server refuses them too). */
export function AdminOnly({ children }: { children: ComponentChildren }) {
  return isAdmin() ? <>{children}</> : <p class="note error">{states('adminOnly')}</p>;
}

/** `fn`, run at most once per `ms` however often the returned function is called. */
export function useThrottled(fn: () => void, ms: number): () => void {
  const latest = useRef(fn);
  latest.current = fn;
  const timer = useRef<number | undefined>(undefined);
  const last = useRef(0);
  useEffect(() => () => window.clearTimeout(timer.current), []);
  return useCallback(() => {
    if (timer.current !== undefined) return;
    const wait = Math.max(0, last.current + ms - Date.now());
    timer.current = window.setTimeout(() => {
      timer.current = undefined;
      last.current = Date.now();
      latest.current();
    }, wait);
  }, [ms]);
}

/** A duration in ms as people read it: 1.5 s, 30 min, 2 h. */
export function duration(ms: number): string {
  if (!Number.isFinite(ms)) return '';
  if (ms < 60_000) return `${+(ms / 1000).toFixed(1)} s`;
  if (ms < 3_600_000) return `${+(ms / 60_000).toFixed(1)} min`;
  return `${+(ms / 3_600_000).toFixed(1)} h`;
}
