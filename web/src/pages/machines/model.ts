// The openidcs shapes this area reads and writes (crates/compute/src/model.rs), the routes'
// paths, the area's own addresses and small formatting helpers.
export interface HostConfig {
  hs_name: string;
  server_type: string;
  server_addr: string;
  filter_name: string;
  images_path: string;
  system_path: string;
  backup_path: string;
  ports_start: number;
  ports_close: number;
  nat_bind: string;
  public_addr: string[];
}

export interface HostView extends HostConfig {
  maintenance: boolean;
  vm_count: number;
  created_at: number;
  updated_at: number;
}

export interface HostStatus {
  hs_name: string;
  maintenance: boolean;
  hostname: string;
  cpu_model: string;
  cpu_total: number;
  cpu_usage: number;
  mem_total: number;
  mem_usage: number;
  hdd_total: number;
  hdd_usage: number;
  vm_count: number;
  running_vm_count: number;
  engine: string;
  engine_version: string | null;
  accel: string | null;
  kvm_device: boolean;
}

export interface VmActionResult {
  vm_uuid: string;
  success: boolean;
  message: string;
}

export interface HostPowerOutcome {
  action: string;
  maintenance: boolean;
  results: VmActionResult[];
}

export interface NicConfig {
  mac_addr: string;
  nic_type: string;
  ip4_addr: string;
  nic_mask: string;
  nic_gate: string;
}

export interface PortData {
  protocol: string;
  wan_port: number;
  lan_port: number;
  lan_addr: string;
  nat_tips: string;
}

export interface WebProxy {
  id: string;
  web_addr: string;
  web_path: string;
  lan_port: number;
  lan_addr: string;
  web_tips: string;
  is_https: boolean;
  wan_port: number;
  nat_auto: boolean;
}

export interface VmView {
  hs_name: string;
  vm_uuid: string;
  vm_name: string;
  cpu_num: number;
  mem_num: number;
  hdd_num: number;
  os_name: string;
  kernel: string;
  initrd: string;
  cmdline: string;
  nic_all: Record<string, NicConfig>;
  nat_all: PortData[];
  web_all: WebProxy[];
  power: string;
  power_code: number;
  created_at: number;
  updated_at: number;
}

export interface CreatedVm {
  vm: VmView;
  agent_secret: string;
}

export interface VmStatus {
  vm_uuid: string;
  power: string;
  power_code: number;
  qemu_status: string | null;
  pid: number | null;
  accel: string | null;
  uptime_s: number | null;
  cpu_num: number;
  cpu_usage: number;
  mem_total: number;
  mem_usage: number;
  hdd_total: number;
  hdd_usage: number;
  pending: string[];
  message: string | null;
  agent_report: unknown;
  reported_at: number | null;
}

export interface PowerResult {
  action: string;
  forced: boolean;
  task_id: string;
  status: VmStatus;
}

export interface IpEntry {
  nic: string;
  address: string;
  netmask: string;
  gateway: string;
  mac_addr: string;
}

export interface IpChanged {
  ips: IpEntry[];
  pending: boolean;
}

export interface Statis {
  host_count: number;
  vm_count: number;
  running_vm_count: number;
  maintenance_host_count: number;
  nat_rule_count: number;
  proxy_count: number;
  running_task_count: number;
}

export interface EngineEntry {
  key: string;
  name: string;
  enabled: boolean;
  version: string | null;
  accel: string | null;
}

export interface AuditEntry {
  id: string;
  at_ms: number;
  actor: string;
  actions: string;
  hs_name: string | null;
  vm_uuid: string | null;
  success: boolean;
  message: string;
}

export interface TaskEntry {
  id: string;
  kind: string;
  hs_name: string | null;
  vm_uuid: string | null;
  actor: string;
  status: string;
  message: string;
  started_at: number;
  finished_at: number | null;
  duration_ms: number | null;
}

export interface ScanResult {
  task_id: string;
  adopted: CreatedVm[];
  skipped: VmActionResult[];
}

export interface ConsoleTicket {
  ticket: string;
  expires_at: number;
  ws_url: string;
  url: string | null;
  password: string;
}

const seg = encodeURIComponent;

/** API paths: `server(…)` for hosts, `client(…)` for a host's VMs. */
export const paths = {
  server: (option: string, host?: string) => `/api/server/${option}${host ? `/${seg(host)}` : ''}`,
  client: (option: string, host: string, vm?: string, index?: number) =>
    `/api/client/${option}/${seg(host)}${vm ? `/${seg(vm)}` : ''}${index === undefined ? '' : `/${index}`}`,
};

/** Console addresses of the machines area. */
export const links = {
  home: '/machines',
  audit: '/machines/-/audit',
  tasks: '/machines/-/tasks',
  host: (host: string) => `/machines/${seg(host)}`,
  vm: (host: string, vm: string) => `/machines/${seg(host)}/${seg(vm)}`,
  console: (host: string, vm: string) => `/machines/${seg(host)}/${seg(vm)}/console`,
};

/** A number input's value, or undefined when empty (so the server's default applies). */
export function numberOr(value: string): number | undefined {
  return value.trim() === '' ? undefined : Number(value);
}

/** MiB as MiB or GiB. */
export function mib(value: number): string {
  return value >= 1024 ? `${(value / 1024).toFixed(1)} GiB` : `${value} MiB`;
}

/** Whether a VM in this power state has a console to open (its QEMU process runs). */
export const consoleOpen = (power: string) => power === 'STARTED' || power === 'SUSPEND';
