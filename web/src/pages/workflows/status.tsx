// An execution's status and what started it, in the chosen language (unknown values as sent).
import { messages } from '../../i18n';

const en = {
  running: 'Running',
  completed: 'Completed',
  failed: 'Failed',
  cancelled: 'Cancelled',
  timeout: 'Timed out',
  manual: 'By hand',
  schedule: 'Schedule',
  webhook: 'Webhook',
  event: 'Event',
};

const t = messages(en, {
  running: '运行中',
  completed: '已完成',
  failed: '失败',
  cancelled: '已取消',
  timeout: '超时',
  manual: '手动',
  schedule: '定时',
  webhook: 'Webhook',
  event: '事件',
});

/** The statuses the executions list can filter by. */
export const STATUSES = ['running', 'completed', 'failed', 'cancelled', 'timeout'] as const;

/** A status or a trigger kind (`manual`, `schedule`…) for people. */
export function statusLabel(value: string): string {
  return Object.hasOwn(en, value) ? t(value as keyof typeof en) : value;
}

export function RunStatus({ status }: { status: string }) {
  return <span class={`badge status-${status.toLowerCase()}`}>{statusLabel(status)}</span>;
}
