// The module catalogue as a dialog: categories, a search, one button per module. Block
// closers and `else` are not listed: adding an opener adds its closer, and an if's
// "Add else" adds the else. Triggers are chosen in the trigger panel.
import { useEffect, useRef, useState } from 'preact/hooks';
import { messages } from '../../i18n';
import { Field } from '../../ui';
import type { Category, ModuleSummary } from './model';
import { pick } from './model';

const t = messages(
  { title: 'Add a step', search: 'Search modules', close: 'Close', none: 'No module matches.' },
  { title: '添加步骤', search: '搜索模块', close: '关闭', none: '没有匹配的模块。' },
);

const HIDDEN = new Set(['else', 'endif', 'endloop', 'endforeach', 'endwhile']);

export function Palette({ modules, categories, onPick, onClose }: { modules: ModuleSummary[]; categories: Category[]; onPick: (id: string) => void; onClose: () => void }) {
  const ref = useRef<HTMLDialogElement>(null);
  const [search, setSearch] = useState('');
  useEffect(() => {
    ref.current?.showModal();
  }, []);
  const needle = search.trim().toLowerCase();
  const shown = modules.filter(
    (m) =>
      m.metadata.category !== 'trigger' &&
      !HIDDEN.has(m.blockBehavior.blockType) &&
      (!needle || [m.id, m.metadata.name, m.metadata.nameEn, m.metadata.description, m.metadata.descriptionEn].some((s) => s.toLowerCase().includes(needle))),
  );
  return (
    <dialog ref={ref} class="wf-palette" aria-labelledby="wf-palette-title" onClose={onClose} data-testid="palette">
      <div class="row spread">
        <h2 id="wf-palette-title">{t('title')}</h2>
        <button type="button" onClick={() => ref.current?.close()}>
          {t('close')}
        </button>
      </div>
      <Field label={t('search')}>{(id) => <input id={id} type="search" value={search} autoFocus onInput={(e) => setSearch(e.currentTarget.value)} />}</Field>
      {shown.length === 0 && <p class="muted">{t('none')}</p>}
      {categories.map((c) => {
        const items = shown.filter((m) => m.metadata.category === c.id);
        return items.length ? (
          <section key={c.id}>
            <h3>{pick(c.name, c.nameEn)}</h3>
            <ul class="wf-modules">
              {items.map((m) => (
                <li key={m.id}>
                  <button
                    type="button"
                    data-testid={`module-${m.id}`}
                    onClick={() => {
                      onPick(m.id);
                      ref.current?.close();
                    }}
                  >
                    <strong>{pick(m.metadata.name, m.metadata.nameEn)}</strong>
                    <span class="muted">{pick(m.metadata.description, m.metadata.descriptionEn)}</span>
                  </button>
                </li>
              ))}
            </ul>
          </section>
        ) : null;
      })}
    </dialog>
  );
}
