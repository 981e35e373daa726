// The editor's working copy of a workflow: steps whose parameters are held as their forms
// show them, turned back into the server's shape (`{type, value}`, indentation from the
// block structure) when saved.
import { depths, tree, type Node } from './blocks';
import { type BlockType, type ModuleForm, type ModuleSummary, type Step, fromEditable, paramValue, toEditable, toParam } from './model';

export interface DraftStep {
  id: string;
  moduleId: string;
  /** Parameter values as the form holds them (text, booleans, key/value maps). */
  values: Record<string, unknown>;
}

export interface Modules {
  byId: Map<string, ModuleSummary>;
  forms: Map<string, ModuleForm>;
}

const RESERVED = ['__error_policy', '__retry_count', '__retry_interval'];

export function blockType(modules: Modules, moduleId: string): BlockType {
  return modules.byId.get(moduleId)?.blockBehavior.blockType ?? 'none';
}

export function isTrigger(modules: Modules, moduleId: string): boolean {
  return modules.byId.get(moduleId)?.metadata.category === 'trigger';
}

/** A stored step as the editor holds it. */
export function toDraft(step: Step, modules: Modules): DraftStep {
  const form = modules.forms.get(step.moduleId);
  const values: Record<string, unknown> = {};
  for (const [key, param] of Object.entries(step.parameters ?? {})) {
    const value = paramValue(param);
    const field = form?.schema.find((f) => f.key === key);
    values[key] = field || RESERVED.includes(key) ? toEditable(field, value) : value;
  }
  return { id: step.id, moduleId: step.moduleId, values };
}

/** The steps to send: parameters in the server's shape, indentation from the blocks. */
export function toSteps(drafts: DraftStep[], modules: Modules): Step[] {
  const levels = depths(drafts.map((d) => blockType(modules, d.moduleId)));
  return drafts.map((d, i) => {
    const form = modules.forms.get(d.moduleId);
    const parameters: Record<string, unknown> = {};
    for (const [key, edited] of Object.entries(d.values)) {
      const field = form?.schema.find((f) => f.key === key);
      const reserved = RESERVED.includes(key);
      if (!field && !reserved) {
        parameters[key] = toParam(edited);
        continue;
      }
      const input = reserved ? { id: key, type: key === '__error_policy' ? 'string' : 'number', description: '', descriptionEn: '' } as const : form?.inputs[key];
      const value = fromEditable(input, field, edited);
      if (value !== undefined) parameters[key] = toParam(value);
    }
    return { id: d.id, moduleId: d.moduleId, indentationLevel: levels[i], parameters };
  });
}

/** A fresh step id for a module (`log-2`), unused among `taken`. */
export function newStepId(moduleId: string, taken: Iterable<string>): string {
  const used = new Set(taken);
  for (let n = 1; ; n++) {
    const id = `${moduleId}-${n}`;
    if (!used.has(id)) return id;
  }
}

/** A new step of a module; unset inputs take their defaults, so only switches show theirs. */
export function newStep(moduleId: string, taken: Iterable<string>, modules: Modules): DraftStep {
  const values: Record<string, unknown> = {};
  for (const field of modules.forms.get(moduleId)?.schema ?? []) {
    if (field.type === 'switch' && field.defaultValue !== undefined) values[field.key] = toEditable(field, field.defaultValue);
  }
  return { id: newStepId(moduleId, taken), moduleId, values };
}

/** For each step of `all`: the step ids before it and the loops around it. */
export function scopes(all: DraftStep[], modules: Modules): { before: Set<string>; loops: Set<string> }[] {
  const nodes = tree(all.map((d) => blockType(modules, d.moduleId)));
  const loopsOf: Set<string>[] = all.map(() => new Set());
  const walk = (list: Node[], around: string[]) => {
    for (const node of list) {
      if (node.type === 'step') {
        around.forEach((id) => loopsOf[node.index].add(id));
        continue;
      }
      const opener = all[node.branches[0].marker];
      const isLoop = node.kind === 'loop' || node.kind === 'foreach' || node.kind === 'while';
      node.branches.forEach((b) => around.forEach((id) => loopsOf[b.marker].add(id)));
      for (const branch of node.branches) walk(branch.children, isLoop ? [...around, opener.id] : around);
    }
  };
  walk(nodes, []);
  return all.map((_, i) => ({ before: new Set(all.slice(0, i).map((d) => d.id)), loops: loopsOf[i] }));
}
