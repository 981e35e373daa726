// The console's entry: routes, each area loaded on first visit so the first page stays small.
import './style.css';
import { render } from 'preact';
import { ErrorBoundary, LocationProvider, Route, Router, lazy, useLocation } from 'preact-iso';
import { useEffect } from 'preact/hooks';
import { session } from './api';
import { Layout } from './layout';
import { Login } from './pages/login';
import { NotFound } from './pages/not-found';

const Profile = lazy(() => import('./pages/profile').then((m) => m.Profile));
const Studio = lazy(() => import('./pages/studio/index').then((m) => m.Studio));
const Fleet = lazy(() => import('./pages/fleet/index').then((m) => m.Fleet));
const Tasks = lazy(() => import('./pages/fleet/tasks').then((m) => m.Tasks));
const Users = lazy(() => import('./pages/fleet/users').then((m) => m.Users));
const Machines = lazy(() => import('./pages/machines/index').then((m) => m.Machines));
const Workflows = lazy(() => import('./pages/workflows/index').then((m) => m.Workflows));

function Home() {
  const { route } = useLocation();
  useEffect(() => route('/studio', true), []);
  return null;
}

function Signed() {
  const { path, url } = useLocation();
  if (!session.value) {
    return <Login next={path === '/login' ? '/' : url} />;
  }
  return (
    <Layout>
      <ErrorBoundary>
        <Router>
          <Route path="/" component={Home} />
          <Route path="/login" component={Home} />
          <Route path="/profile" component={Profile} />
          <Route path="/studio" component={Studio} />
          <Route path="/studio/*" component={Studio} />
          <Route path="/workflows" component={Workflows} />
          <Route path="/workflows/*" component={Workflows} />
          <Route path="/fleet" component={Fleet} />
          <Route path="/tasks" component={Tasks} />
          <Route path="/users" component={Users} />
          <Route path="/machines" component={Machines} />
          <Route path="/machines/*" component={Machines} />
          <Route default component={NotFound} />
        </Router>
      </ErrorBoundary>
    </Layout>
  );
}

function App() {
  return (
    <LocationProvider>
      <Signed />
    </LocationProvider>
  );
}

const root = document.getElementById('app');
if (root) render(<App />, root);
