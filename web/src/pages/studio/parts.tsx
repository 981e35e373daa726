// Pieces the studio's pages share: a task's state, a result with its download, a pager.
import { formatNumber } from '../../i18n';
import { type TaskStatus, fileName, isVideo } from './model';
import { type Key, t } from './text';

const BADGE: Record<TaskStatus, string> = {
  PENDING: 'pending',
  PROCESSING: 'running',
  COMPLETED: 'completed',
  FAILED: 'failed',
  CANCELLED: 'cancelled',
};

/** A task's state in words, with a progress bar while it runs. */
export function TaskState({ status, progress, step, totalSteps }: { status: TaskStatus; progress: number; step?: number | null; totalSteps?: number | null }) {
  return (
    <span class="studio-state">
      <span class={`badge status-${BADGE[status] ?? status.toLowerCase()}`} data-testid="task-status" data-status={status}>
        {t(status as Key) ?? status}
      </span>
      {status === 'PROCESSING' && (
        <>
          <progress max={100} value={progress} aria-label={t('progress')} />
          <small class="muted">{step && totalSteps ? t('step', { step, total: totalSteps }) : `${progress}%`}</small>
        </>
      )}
    </span>
  );
}

export function Credits({ n }: { n: number }) {
  return <>{t('credits', { n: formatNumber(n) })}</>;
}

/** One result: the image (animated ones too) or video, opening full size, and a download link. */
export function ResultItem({ url, thumbnail, format, caption }: { url: string; thumbnail?: string | null; format?: string; caption: string }) {
  const video = isVideo(format ?? url);
  return (
    <figure class="studio-result" data-testid="result">
      {video ? (
        <video src={url} controls loop muted playsInline preload="metadata" aria-label={caption} />
      ) : (
        <a href={url} target="_blank" rel="noopener">
          <img src={thumbnail && !/^(webp|gif)$/i.test(format ?? '') ? thumbnail : url} alt={caption} loading="lazy" />
        </a>
      )}
      <figcaption>
        <span title={caption}>{caption}</span>
        <a href={url} download={fileName(url)} data-testid="download">
          {t('download')}
        </a>
      </figcaption>
    </figure>
  );
}

