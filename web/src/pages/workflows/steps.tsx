// The step list as nested blocks: an if shows its branches, a loop its body, each indented
// inside its opener; every branch ends with a button that adds a step there. A step opens
// into its form; its header moves it (an opener moves with its whole block) or removes it.
import type { ComponentChildren } from 'preact';
import { messages } from '../../i18n';
import type { Node } from './blocks';
import { type DraftStep, type Modules, isTrigger } from './draft';
import { ErrorPolicy, ParamField } from './fields';
import { type Issue, type MagicVariables, pick } from './model';

const t = messages(
  {
    open: 'Edit {name}',
    up: 'Move {name} up',
    down: 'Move {name} down',
    remove: 'Remove {name}',
    removeBlock: 'Remove {name} (the steps inside stay)',
    addInIf: 'Add a step to “then”',
    addInElse: 'Add a step to “else”',
    addInLoop: 'Add a step to the loop',
    addElse: 'Add “else”',
    addStep: 'Add a step',
    unclosed: 'This block is never closed.',
    unknown: 'Module {id} is not in the catalogue.',
    noInputs: 'This step has no settings.',
    empty: 'No steps yet: add the first one.',
  },
  {
    open: '编辑 {name}',
    up: '上移 {name}',
    down: '下移 {name}',
    remove: '删除 {name}',
    removeBlock: '删除 {name}（保留其中的步骤）',
    addInIf: '向“则”分支添加步骤',
    addInElse: '向“否则”分支添加步骤',
    addInLoop: '向循环内添加步骤',
    addElse: '添加“否则”',
    addStep: '添加步骤',
    unclosed: '此块没有结束标记。',
    unknown: '模块 {id} 不在模块目录中。',
    noInputs: '此步骤没有可设置的参数。',
    empty: '还没有步骤：添加第一个吧。',
  },
);

/** What the tree needs from the editor; indices are positions in `all`. */
export interface TreeContext {
  all: DraftStep[];
  modules: Modules;
  issues: Map<string, Issue[]>;
  vars: MagicVariables | null;
  scopes: { before: Set<string>; loops: Set<string> }[];
  open: Set<string>;
  /** The first index a step may move to (after the trigger). */
  first: number;
  toggle: (id: string) => void;
  change: (index: number, key: string, value: unknown) => void;
  move: (index: number, by: -1 | 1) => void;
  remove: (index: number) => void;
  /** Opens the catalogue to add a step at `at`. */
  add: (at: number) => void;
  addElse: (at: number) => void;
}

export function moduleName(modules: Modules, moduleId: string): string {
  const m = modules.byId.get(moduleId);
  return m ? pick(m.metadata.name, m.metadata.nameEn) : moduleId;
}

/** A one-line reminder of a closed step's settings, by their labels. */
function summary(step: DraftStep, modules: Modules): string {
  const schema = modules.forms.get(step.moduleId)?.schema ?? [];
  return Object.entries(step.values)
    .filter(([k, v]) => !k.startsWith('__') && v !== '' && v !== undefined && v !== null)
    .map(([k, v]) => {
      const field = schema.find((f) => f.key === k);
      return `${field ? pick(field.label, field.labelEn) : k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`;
    })
    .join(' · ');
}

function IssueList({ issues }: { issues: Issue[] }) {
  if (!issues.length) return null;
  return (
    <ul class="wf-issues" role="alert">
      {issues.map((i, n) => (
        <li key={n}>{i.message}</li>
      ))}
    </ul>
  );
}

/** A step's header and, when open, its form. */
export function StepCard({ index, ctx, block, canMove = true }: { index: number; ctx: TreeContext; block?: boolean; canMove?: boolean }) {
  const step = ctx.all[index];
  const name = moduleName(ctx.modules, step.moduleId);
  const form = ctx.modules.forms.get(step.moduleId);
  const issues = ctx.issues.get(step.id) ?? [];
  const byInput = (key: string) => issues.find((i) => i.input === key);
  const loose = issues.filter((i) => !i.input || (!i.input.startsWith('__') && !form?.schema.some((f) => f.key === i.input)));
  const isOpen = ctx.open.has(step.id);
  const panel = `panel-${step.id}`;
  return (
    <div class={issues.length ? 'wf-step invalid' : 'wf-step'} data-testid={`step-${step.id}`}>
      <div class="wf-step-head">
        <button type="button" class="wf-toggle" aria-expanded={isOpen} aria-controls={panel} title={t('open', { name: step.id })} onClick={() => ctx.toggle(step.id)}>
          <span aria-hidden="true">{isOpen ? '▾' : '▸'}</span> <strong>{name}</strong> <code>{step.id}</code>
        </button>
        {!isOpen && <span class="wf-summary muted">{summary(step, ctx.modules)}</span>}
        <span class="wf-tools">
          {canMove && (
            <>
              <button type="button" aria-label={t('up', { name: step.id })} title={t('up', { name: step.id })} disabled={index <= ctx.first} onClick={() => ctx.move(index, -1)}>
                ↑
              </button>
              <button type="button" aria-label={t('down', { name: step.id })} title={t('down', { name: step.id })} disabled={index >= ctx.all.length - 1} onClick={() => ctx.move(index, 1)}>
                ↓
              </button>
            </>
          )}
          <button
            type="button"
            class="danger"
            aria-label={t(block ? 'removeBlock' : 'remove', { name: step.id })}
            title={t(block ? 'removeBlock' : 'remove', { name: step.id })}
            data-testid="remove-step"
            onClick={() => ctx.remove(index)}
          >
            ✕
          </button>
        </span>
      </div>
      {isOpen && (
        <div class="wf-step-body" id={panel}>
          {!form && !ctx.modules.byId.has(step.moduleId) && <p class="muted">{t('unknown', { id: step.moduleId })}</p>}
          {form && form.schema.length === 0 && <p class="muted">{t('noInputs')}</p>}
          {form?.schema.map((field) => (
            <ParamField
              key={field.key}
              field={field}
              input={form.inputs[field.key]}
              value={step.values[field.key]}
              issue={byInput(field.key)}
              visible={{ vars: ctx.vars, ...ctx.scopes[index] }}
              onChange={(v) => ctx.change(index, field.key, v)}
            />
          ))}
          {form && !isTrigger(ctx.modules, step.moduleId) && (
            <ErrorPolicy values={step.values} issue={issues.find((i) => i.input?.startsWith('__'))} onChange={(k, v) => ctx.change(index, k, v)} />
          )}
        </div>
      )}
      <IssueList issues={loose} />
    </div>
  );
}

function AddButton({ at, label, testid, ctx }: { at: number; label: string; testid: string; ctx: TreeContext }) {
  return (
    <button type="button" class="wf-add" data-testid={testid} onClick={() => ctx.add(at)}>
      + {label}
    </button>
  );
}

function Branch({ children, footer }: { children: ComponentChildren; footer: ComponentChildren }) {
  return (
    <div class="wf-branch">
      <ol class="wf-steps">{children}</ol>
      {footer}
    </div>
  );
}

function Nodes({ nodes, ctx }: { nodes: Node[]; ctx: TreeContext }) {
  return (
    <>
      {nodes.map((node) => {
        if (node.type === 'step') {
          if (isTrigger(ctx.modules, ctx.all[node.index].moduleId) && node.index === 0) return null;
          return (
            <li key={ctx.all[node.index].id}>
              <StepCard index={node.index} ctx={ctx} />
            </li>
          );
        }
        const opener = ctx.all[node.branches[0].marker];
        const loop = node.kind !== 'if';
        const stop = node.end ?? ctx.all.length;
        return (
          <li key={opener.id} class={`wf-block wf-${node.kind}`}>
            {node.branches.map((branch, b) => {
              const next = node.branches[b + 1]?.marker ?? stop;
              const label = loop ? t('addInLoop') : b === 0 ? t('addInIf') : t('addInElse');
              return (
                <div key={branch.marker}>
                  <StepCard index={branch.marker} ctx={ctx} block={b === 0} canMove={b === 0} />
                  <Branch footer={<AddButton at={next} label={label} testid={`add-in-${ctx.all[branch.marker].id}`} ctx={ctx} />}>
                    <Nodes nodes={branch.children} ctx={ctx} />
                  </Branch>
                </div>
              );
            })}
            {node.kind === 'if' && node.branches.length === 1 && node.end != null && (
              <button type="button" class="wf-add" data-testid={`add-else-${opener.id}`} onClick={() => ctx.addElse(stop)}>
                + {t('addElse')}
              </button>
            )}
            {node.end != null ? (
              <div class="wf-end">
                <span class="muted">{moduleName(ctx.modules, ctx.all[node.end].moduleId)}</span>
                <IssueList issues={ctx.issues.get(ctx.all[node.end].id) ?? []} />
              </div>
            ) : (
              <p class="wf-issue">{t('unclosed')}</p>
            )}
          </li>
        );
      })}
    </>
  );
}

/** The whole list, with an add button at its end. */
export function StepTree({ nodes, ctx }: { nodes: Node[]; ctx: TreeContext }) {
  const body = ctx.all.length - ctx.first;
  return (
    <div class="wf-tree" data-testid="steps">
      {body === 0 && <p class="muted">{t('empty')}</p>}
      <ol class="wf-steps wf-root">
        <Nodes nodes={nodes} ctx={ctx} />
      </ol>
      <AddButton at={ctx.all.length} label={t('addStep')} testid="add-step" ctx={ctx} />
    </div>
  );
}
