// The tasks this tab submitted, followed until they finish: step progress from the live
// socket's task_progress (star-graph task ids are the comfy-manager task ids), and
// GET /api/v1/tasks/{id} every second while the socket is down (every 5 s otherwise, for
// anything a reconnect missed) and once when a task ends, for its results.
import { type Signal, effect, signal } from '@preact/signals';
import { useEffect, useRef } from 'preact/hooks';
import { session } from '../../api';
import { type LiveMessage, connected, useLive } from '../../live';
import { type Accepted, type TaskDetail, type TaskStatus, isFinished, loadTask } from './model';

export interface Tracked {
  taskId: string;
  type: string;
  queuePosition: number;
  /** Seconds, as the generator answered (a retry answers none). */
  estimatedTime: number | null;
  cost: number;
  status: TaskStatus;
  progress: number;
  step: number | null;
  totalSteps: number | null;
  /** The last detail read, with results once completed. */
  detail: TaskDetail | null;
}

/** State kept while the tab is open, back to `initial` when another user signs in. */
export function perUser<T>(initial: () => T): Signal<T> {
  const state = signal(initial());
  let owner = session.peek()?.user.id;
  effect(() => {
    const user = session.value?.user.id;
    if (user === owner) return;
    owner = user;
    state.value = initial();
  });
  return state;
}

/** Newest first. */
export const tracked = perUser<Tracked[]>(() => []);
/** Counts finished tasks: the balance and the lists reload when it moves. */
export const finishedRound = signal(0);

const KEEP = 12;

/** Follows a task just submitted (a generator's answer, or a retry's). */
export function track(accepted: Pick<Accepted, 'taskId' | 'queuePosition' | 'cost'> & { estimatedTime?: number }, type: string) {
  const entry: Tracked = {
    taskId: accepted.taskId,
    type,
    queuePosition: accepted.queuePosition,
    estimatedTime: accepted.estimatedTime ?? null,
    cost: accepted.cost,
    status: 'PENDING',
    progress: 0,
    step: null,
    totalSteps: null,
    detail: null,
  };
  tracked.value = [entry, ...tracked.value.filter((t) => t.taskId !== accepted.taskId)].slice(0, KEEP);
}

function update(taskId: string, change: (entry: Tracked) => Partial<Tracked>) {
  let ended = false;
  tracked.value = tracked.value.map((entry) => {
    if (entry.taskId !== taskId) return entry;
    const next = { ...entry, ...change(entry) };
    ended = !isFinished(entry.status) && isFinished(next.status);
    return next;
  });
  if (ended) finishedRound.value++;
}

const inFlight = new Set<string>();

/** Reads a task's state from the server. */
export async function refresh(taskId: string) {
  if (inFlight.has(taskId)) return;
  inFlight.add(taskId);
  try {
    const detail = await loadTask(taskId);
    // Where it stands now: position 0 once an instance has it (shown as starting), keeping
    // the last estimate.
    update(taskId, (entry) => ({
      detail,
      status: detail.status,
      progress: detail.progress,
      queuePosition: detail.queuePosition ?? 0,
      estimatedTime: detail.estimatedTime ?? entry.estimatedTime,
    }));
  } catch {
    // The next tick tries again; a task that is gone stays as last seen.
  } finally {
    inFlight.delete(taskId);
  }
}

/** Calls `poll` every second while the live socket is down, every 5 s while it is up. */
export function usePolling(active: boolean, poll: () => void) {
  const latest = useRef(poll);
  latest.current = poll;
  useEffect(() => {
    if (!active) return;
    let tick = 0;
    const timer = window.setInterval(() => {
      tick++;
      if (!connected.value || tick % 5 === 0) latest.current();
    }, 1000);
    return () => window.clearInterval(timer);
  }, [active]);
}

/** Keeps the tracked tasks current while the studio is open. */
export function useTracker() {
  useLive(['task_progress', 'task_completed', 'task_failed'], (message: LiveMessage) => {
    const taskId = String(message.data.taskId ?? '');
    if (!tracked.value.some((t) => t.taskId === taskId)) return;
    if (message.type === 'task_progress') {
      const { progress, currentStep, totalSteps } = message.data as { progress: number; currentStep: number; totalSteps: number };
      update(taskId, (entry) => (isFinished(entry.status) ? {} : { status: 'PROCESSING', progress, step: currentStep, totalSteps }));
    } else {
      void refresh(taskId);
    }
  });
  const running = tracked.value.filter((t) => !isFinished(t.status));
  usePolling(running.length > 0, () => {
    for (const entry of tracked.value) if (!isFinished(entry.status)) void refresh(entry.taskId);
  });
}
