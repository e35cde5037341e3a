/**
 * The service routes of the sxwl REST API (`services/…`), typed for the
 * Services view and the Chat widget. Errors come back as the shared
 * `ApiError`, whose problem+json `errors[]` name fields like `model`,
 * `port`, `resources.cpu` or `https.certificate`.
 */
import { json, jsonBody, request } from '../api';

export type ServiceStatus =
  | 'starting'
  | 'running'
  | 'sleeping'
  | 'waking'
  | 'stopped'
  | 'failed'
  | 'deleting';

export type ServiceKind = 'llm' | 'custom';

/** Statuses in which a service answers requests (a sleeping one wakes). */
export const SERVING: readonly ServiceStatus[] = [
  'running',
  'sleeping',
  'waking'
];

/** Statuses that change by themselves soon: poll faster while in one. */
export const MOVING: readonly ServiceStatus[] = [
  'starting',
  'waking',
  'deleting'
];

export interface IModelRef {
  name: string;
  version?: number | null;
  id?: string;
}

export interface IServiceResources {
  flavour?: string | null;
  queue?: string | null;
  cpu?: number | null;
  memory_gb?: number | null;
  accelerators?: number | null;
  replicas?: number | null;
}

export interface IHttps {
  domain: string;
  certificate: string;
  private_key: string;
}

export interface IService {
  id: string;
  name: string;
  owner: string;
  kind: ServiceKind;
  status: ServiceStatus;
  /** The gateway path, e.g. `/services/sxwl/endpoints/<name>/`. */
  address: string;
  model: IModelRef | null;
  adapter: IModelRef | null;
  revision: number;
  resources: IServiceResources;
  /** Sleeping with a standby process that loads the model on the next request. */
  standby?: boolean;
  /** Where the scheduler placed each running replica: node of its flavour, cards. */
  placement?: { node: number; cards: number[] }[];
  sleep_after_minutes: number | null;
  /** Requests served through the gateway. */
  requests: number;
  message: string;
  created_at: string;
  updated_at: string;
  /** The revision answering requests now (null while none runs). */
  serving_revision?: number | null;
  /** The whole configuration of the current revision. */
  spec?: {
    image?: string | null;
    command?: string | null;
    port?: number | null;
    code_package?: string | null;
    requirements?: string;
    env?: Record<string, string>;
  };
  usage?: {
    requests: number;
    running_seconds: number;
    replicas: number;
    inflight: number;
  };
  https?: { domain?: string } | null;
}

/** The body of `POST services`; fields left out take the platform's defaults. */
export interface IServiceSpec {
  name: string;
  kind: ServiceKind;
  model?: IModelRef;
  adapter?: IModelRef | null;
  image?: string;
  code_package?: string;
  requirements?: string;
  env?: Record<string, string>;
  command?: string;
  port?: number;
  resources?: IServiceResources;
  sleep_after_minutes?: number | null;
  https?: IHttps | null;
}

export interface IServiceEvent {
  id?: number;
  kind: string;
  revision?: number;
  message: string;
  at: string;
}

export interface IRevisionChange {
  field: string;
  old: unknown;
  new: unknown;
}

export interface IServiceRevision {
  number: number;
  spec: Record<string, unknown>;
  /** What changed from the revision before (none for the first). */
  changes: IRevisionChange[];
  created_by?: string;
  created_at: string;
}

export interface IServiceKey {
  id: string;
  name?: string;
  app_key: string;
  requests?: number;
  last_used_at?: string | null;
  created_at: string;
  bearer_hint?: string;
}

/** A new key: the secret and the bearer key are in this answer only. */
export interface INewServiceKey extends IServiceKey {
  app_secret: string;
  bearer: string;
}

const one = (id: string): string => `services/${encodeURIComponent(id)}`;

export async function listServices(): Promise<IService[]> {
  return (await json<{ items: IService[] }>('services')).items;
}

export function getService(id: string): Promise<IService> {
  return json<IService>(one(id));
}

export function createService(spec: IServiceSpec): Promise<IService> {
  return json<IService>('services', jsonBody(spec));
}

export function updateService(
  id: string,
  changes: Partial<IServiceSpec>
): Promise<IService> {
  return json<IService>(one(id), jsonBody(changes, 'PATCH'));
}

export type ServiceAction = 'stop' | 'start' | 'restart' | 'sleep';

export function serviceAction(
  id: string,
  action: ServiceAction
): Promise<IService> {
  return json<IService>(`${one(id)}/${action}`, { method: 'POST' });
}

export async function deleteService(id: string): Promise<void> {
  await request(one(id), { method: 'DELETE' });
}

export async function listServiceEvents(id: string): Promise<IServiceEvent[]> {
  return (await json<{ items: IServiceEvent[] }>(`${one(id)}/events`)).items;
}

export async function listServiceRevisions(
  id: string
): Promise<IServiceRevision[]> {
  return (await json<{ items: IServiceRevision[] }>(`${one(id)}/revisions`))
    .items;
}

/** The log from byte `offset` on, and the offset to ask from next. */
export async function readServiceLog(
  id: string,
  offset = 0
): Promise<{ text: string; next: number }> {
  const response = await request(
    `${one(id)}/logs${offset ? `?offset=${offset}` : ''}`
  );
  const text = await response.text();
  const header = response.headers.get('X-Log-Offset');
  const next = header !== null ? Number(header) : offset + text.length;
  return { text, next: Number.isFinite(next) ? next : offset };
}

export async function listServiceKeys(id: string): Promise<IServiceKey[]> {
  return (await json<{ items: IServiceKey[] }>(`${one(id)}/keys`)).items;
}

export function createServiceKey(
  id: string,
  name?: string
): Promise<INewServiceKey> {
  return json<INewServiceKey>(
    `${one(id)}/keys`,
    jsonBody(name ? { name } : {})
  );
}

export async function revokeServiceKey(
  id: string,
  keyId: string
): Promise<void> {
  await request(`${one(id)}/keys/${encodeURIComponent(keyId)}`, {
    method: 'DELETE'
  });
}

/** `name v2 + adapter v1`, or the image of a custom service. */
export function serviceModelText(s: IService): string {
  if (s.model) {
    const base = refText(s.model);
    return s.adapter ? `${base} + ${refText(s.adapter)}` : base;
  }
  return s.spec?.command || s.spec?.image || 'custom';
}

export function refText(ref: IModelRef): string {
  return ref.version ? `${ref.name} v${ref.version}` : ref.name;
}

/**
 * The full URL of a service's gateway address, ending in `/`: the address
 * is a path on the hub's origin (or already a whole URL).
 */
export function endpointUrl(s: IService): string {
  const base = new URL(s.address, window.location.origin).href;
  return base.endsWith('/') ? base : `${base}/`;
}
