// Workflows (vflow): the list, one workflow's editor, and executions with their logs.
import { Route, Router } from 'preact-iso';
import { NotFound } from '../not-found';
import { Editor } from './editor';
import { ExecutionPage } from './execution';
import { Executions } from './executions';
import { WorkflowList } from './list';

export function Workflows() {
  return (
    <Router>
      <Route path="/" component={WorkflowList} />
      <Route path="/executions" component={Executions} />
      <Route path="/executions/:id" component={ExecutionPage} />
      <Route path="/:id" component={Editor} />
      <Route default component={NotFound} />
    </Router>
  );
}
