// An input image for img2img, upscale, pose and img2video: a chosen, dropped or pasted file
// (sent as a data URL) or a link (sent for the server to fetch), with a preview.
import { useEffect, useState } from 'preact/hooks';
import { ErrorNote, Field } from '../../ui';
import { t } from './text';

export interface ImageChoice {
  /** A data URL, when the image is a file. */
  data?: string;
  name?: string;
  /** A link, when the server is to fetch it. */
  url?: string;
}

function readAsDataUrl(file: Blob): Promise<string> {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result));
    reader.onerror = () => reject(reader.error ?? new Error(t('readFailed')));
    reader.readAsDataURL(file);
  });
}

function imageIn(items: DataTransferItemList | undefined): File | null {
  for (const item of Array.from(items ?? [])) {
    if (item.kind === 'file' && item.type.startsWith('image/')) return item.getAsFile();
  }
  return null;
}

export function ImageInput({ label, value, onChange }: { label: string; value: ImageChoice; onChange: (next: ImageChoice) => void }) {
  const [mode, setMode] = useState<'file' | 'url'>(value.url ? 'url' : 'file');
  const [error, setError] = useState<unknown>(null);
  const [over, setOver] = useState(false);
  const [unshown, setUnshown] = useState<string | null>(null);

  const take = async (file: File | null, name?: string) => {
    if (!file) return;
    setError(null);
    try {
      onChange({ data: await readAsDataUrl(file), name: name ?? file.name });
      setMode('file');
    } catch (failure) {
      setError(failure);
    }
  };

  // A pasted image anywhere on the page becomes the input; pasted text goes where it was pasted.
  useEffect(() => {
    const onPaste = (event: ClipboardEvent) => {
      const file = imageIn(event.clipboardData?.items);
      if (!file) return;
      event.preventDefault();
      void take(file, t('pasted'));
    };
    document.addEventListener('paste', onPaste);
    return () => document.removeEventListener('paste', onPaste);
  });

  const preview = value.data ?? (value.url && /^https?:\/\/[^/\s]+\/\S/.test(value.url) ? value.url : undefined);
  return (
    <fieldset
      class={over ? 'studio-image over' : 'studio-image'}
      data-testid="image-input"
      onDragOver={(e) => {
        e.preventDefault();
        setOver(true);
      }}
      onDragLeave={() => setOver(false)}
      onDrop={(e) => {
        e.preventDefault();
        setOver(false);
        void take(e.dataTransfer?.files?.[0] ?? null);
      }}
    >
      <legend>{label}</legend>
      <div class="studio-switch" role="group" aria-label={label}>
        <button type="button" aria-pressed={mode === 'file'} onClick={() => setMode('file')}>
          {t('fromFile')}
        </button>
        <button type="button" aria-pressed={mode === 'url'} onClick={() => setMode('url')}>
          {t('fromUrl')}
        </button>
      </div>
      {mode === 'file' ? (
        <Field label={t('file')} hint={t('fileHint')}>
          {(id) => <input id={id} type="file" accept="image/png,image/jpeg,image/webp" onChange={(e) => void take(e.currentTarget.files?.[0] ?? null)} />}
        </Field>
      ) : (
        <Field label={t('url')} hint={t('urlHint')}>
          {(id) => <input id={id} type="url" inputMode="url" placeholder="https://" value={value.url ?? ''} onInput={(e) => onChange({ url: e.currentTarget.value })} />}
        </Field>
      )}
      <ErrorNote error={error} />
      {preview && (
        <div class="studio-preview">
          {unshown === preview ? <p class="muted">{t('noPreview')}</p> : <img src={preview} alt={t('preview')} onError={() => setUnshown(preview)} />}
          <div>
            {value.name && <span class="muted">{value.name}</span>}
            <button type="button" class="link" onClick={() => onChange({})}>
              {t('removeImage')}
            </button>
          </div>
        </div>
      )}
    </fieldset>
  );
}
