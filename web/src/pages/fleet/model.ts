// What the operator pages read and write: comfy-manager's instances, fleet configuration,
// monitor overview and tasks (/api), and star-graph's user administration (/api/v1/admin).
import { api, del, get, post, put, query } from '../../api';

/** A ComfyUI instance (`ip:port`) as `GET /api/instances` shows it. */
export interface Instance {
  id: string;
  serverId: string;
  serverName: string;
  ip: string;
  port: number;
  enabled: boolean;
  alive: boolean;
  busy: boolean;
  lastHeartbeat: string | null;
  activeTasks: number;
  queueRemaining: number;
  models: string[];
}

export interface Overview {
  totalInstances: number;
  aliveInstances: number;
  busyInstances: number;
  pendingTasks: number;
  runningTasks: number;
  completedTasks: number;
  failedTasks: number;
  cancelledTasks: number;
  /** Tasks completed in the last hour. */
  completedLastHour: number;
}

/** A configured machine; each port is one instance. */
export interface Server {
  id: string;
  name: string;
  ip: string;
  ports: number[];
  enabled: boolean;
}

export interface HealthCheck {
  interval: number;
  timeout: number;
  failureThreshold: number;
}

export interface Dispatch {
  prefetch: number;
  maxAttempts: number;
  taskTimeout: number;
  maxQueue: number;
}

export interface FleetConfig {
  servers: Server[];
  healthCheck: HealthCheck;
  dispatch: Dispatch;
}

/** What a server form sends: `ports` as typed, so the server judges anything that is not a port. */
export interface ServerInput {
  name: string;
  ip: string;
  ports: (number | string)[];
  enabled: boolean;
}

export const TASK_STATUSES = ['pending', 'running', 'completed', 'failed', 'cancelled'] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];

export interface Task {
  id: string;
  instanceId: string | null;
  promptId: string | null;
  status: TaskStatus;
  progress: number;
  createdAt: string;
  updatedAt: string;
  userId: number;
  kind: string;
  attempts: number;
  queuePosition: number | null;
  error: string | null;
  errorCode: string | null;
  result: { files: string[] } | null;
}

export interface TaskPage {
  total: number;
  items: Task[];
}

export interface UserRow {
  id: number;
  username: string;
  nickname: string;
  email: string | null;
  role: 'ADMIN' | 'USER';
  createTime: string;
}

export interface UserPage {
  content: UserRow[];
  totalElements: number;
  totalPages: number;
  page: number;
  pageSize: number;
}

export interface Granted {
  userId: number;
  amount: number;
  balance: number;
}

export const instances = () => get<Instance[]>('/api/instances');
export const overview = () => get<Overview>('/api/monitor/overview');
export const fleetConfig = () => get<FleetConfig>('/api/config');
export const addServer = (server: ServerInput) => post<FleetConfig>('/api/config/servers', server);
export const updateServer = (id: string, server: ServerInput) => put<FleetConfig>(`/api/config/servers/${encodeURIComponent(id)}`, server);
export const removeServer = (id: string) => del<FleetConfig>(`/api/config/servers/${encodeURIComponent(id)}`);
/** A JSON merge patch of the configuration: the sections named change, the rest stays. */
export const patchConfig = (patch: Partial<Pick<FleetConfig, 'healthCheck' | 'dispatch'>>) => api<FleetConfig>('PATCH', '/api/config', patch);

export const tasks = (params: { status?: TaskStatus | ''; limit: number; offset: number }) => get<TaskPage>(`/api/tasks${query(params)}`);
export const cancelTask = (id: string) => del<Task>(`/api/tasks/${encodeURIComponent(id)}`);

export const users = (page: number, pageSize: number) => get<UserPage>(`/api/v1/admin/users${query({ page, pageSize })}`);
export const createUser = (body: { username: string; password: string; role: 'USER' | 'ADMIN' }) => post<UserRow>('/api/v1/admin/users', body);
export const setRole = (id: number, role: 'USER' | 'ADMIN') => put<UserRow>(`/api/v1/admin/users/${id}/role`, { role });
export const grantCredits = (id: number, amount: number, reason?: string) => post<Granted>(`/api/v1/admin/users/${id}/credits`, reason ? { amount, reason } : { amount });
