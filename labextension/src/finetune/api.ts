/**
 * The fine-tune routes of the sxwl REST API (`finetunes/…`), typed for the
 * Fine-tune view. Errors come back as the shared `ApiError`, with the
 * problem+json `errors[]` that name fields like `params.learning_rate`,
 * `datasets[0]`, `model` or `yaml`.
 */
import { JobStatus, apiUrl, json, jsonBody, request } from '../api';

export type FinetuneMethod = 'LoRA' | 'LoRA+' | 'QLoRA' | 'full';

/** The methods in the order the form offers them. */
export const METHODS: readonly FinetuneMethod[] = [
  'LoRA',
  'LoRA+',
  'QLoRA',
  'full'
];

/** A parameter value as the API sends it. */
export type ParamValue = string | number | boolean | null;

/** One entry of `GET finetunes/defaults`'s `fields`. */
export interface IParamField {
  name: string;
  /** The JSON Schema type: integer, number, boolean or string. */
  type: string;
  /** True when the parameter may be null (left empty). */
  nullable?: boolean;
  default: ParamValue;
  description: string;
  choices?: (string | number)[] | null;
}

export interface IFinetuneDefaults {
  params: Record<string, ParamValue>;
  fields: IParamField[];
  templates: string[];
  lr_scheduler_types: string[];
  finetuning_types: string[];
}

/** A dataset (version) as a fine-tune names it. */
export interface IDatasetRef {
  name: string;
  version?: number | null;
}

/** What `POST finetunes/parse-yaml` reads out of a LLaMA-Factory YAML file. */
export interface IParsedYaml {
  model: string | null;
  model_version: number | null;
  datasets: IDatasetRef[];
  eval_datasets: IDatasetRef[];
  params: Record<string, ParamValue>;
  /** Keys of the file the platform sets itself, with the reason. */
  ignored: Record<string, string>;
}

export interface IFinetuneResources {
  flavour?: string;
  accelerators_per_node?: number;
  nodes?: number;
  procs_per_node?: number;
  cpu_per_node?: number;
  memory_gb_per_node?: number;
  queue?: string;
  priority?: string;
  max_run_minutes?: number | null;
}

export interface IFinetuneSpec {
  name: string;
  model?: string;
  model_version?: number;
  datasets?: IDatasetRef[];
  eval_datasets?: IDatasetRef[];
  params?: Record<string, ParamValue>;
  resources?: IFinetuneResources;
  yaml?: string;
}

/** One optimiser step, as the runner writes it. */
export interface ITrainPoint {
  kind: 'train';
  step: number;
  total_steps: number;
  epoch: number;
  loss: number;
  learning_rate: number;
  grad_norm?: number | null;
  tokens_per_second?: number | null;
  samples_per_second?: number | null;
  memory_mb?: number | null;
  eta_seconds?: number | null;
  elapsed_seconds?: number | null;
  time?: string;
}

export interface IEvalPoint {
  kind: 'eval';
  step: number;
  eval_loss: number;
  time?: string;
}

export interface IDonePoint {
  kind: 'done';
  step: number;
  total_steps: number;
  train_loss?: number | null;
  train_runtime?: number | null;
  train_samples_per_second?: number | null;
  train_tokens_per_second?: number | null;
  peak_memory_mb?: number | null;
  time?: string;
}

export type MetricPoint = ITrainPoint | IEvalPoint | IDonePoint;

export interface IMetrics {
  points: MetricPoint[];
  progress: ITrainPoint | null;
}

export interface IScores {
  'rouge-1': number;
  'rouge-2': number;
  'rouge-l': number;
  'bleu-4': number;
  samples: number;
}

export interface IEvaluation {
  id: string;
  status: 'running' | 'succeeded' | 'failed';
  job_id: string | null;
  dataset: IDatasetRef | null;
  scores: IScores | null;
  message: string;
  created_at: string;
  finished_at: string | null;
}

export interface IModelRef {
  id: string;
  name: string;
  version: number;
}

export interface IExport {
  id: string;
  status: 'running' | 'ready' | 'failed';
  job_id: string | null;
  merge: boolean;
  model: IModelRef | null;
  message: string;
  created_at: string;
  finished_at: string | null;
}

export interface IFinetune {
  id: string;
  name: string;
  owner: string;
  status: JobStatus;
  job_id: string | null;
  /** The training job's attempt: a resume makes the next one. */
  attempt?: number;
  method: FinetuneMethod;
  model: IModelRef;
  datasets: (IDatasetRef & {
    id?: string;
    annotation_type?: string;
    records?: number;
  })[];
  eval_datasets: IDatasetRef[];
  params: Record<string, ParamValue>;
  resources: IFinetuneResources;
  progress: ITrainPoint | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  message: string;
  /** Why a Queued fine-tune waits, in words. */
  wait_reason?: string | null;
  evaluations: IEvaluation[];
  exports: IExport[];
}

function get<T>(path: string): Promise<T> {
  return json<T>(path);
}

function post<T>(path: string, body?: unknown): Promise<T> {
  return json<T>(
    path,
    body === undefined ? { method: 'POST' } : jsonBody(body)
  );
}

const one = (id: string): string => `finetunes/${encodeURIComponent(id)}`;

export function getFinetuneDefaults(): Promise<IFinetuneDefaults> {
  return get<IFinetuneDefaults>('finetunes/defaults');
}

export function parseFinetuneYaml(yaml: string): Promise<IParsedYaml> {
  return post<IParsedYaml>('finetunes/parse-yaml', { yaml });
}

export function createFinetune(spec: IFinetuneSpec): Promise<IFinetune> {
  return post<IFinetune>('finetunes', spec);
}

export async function listFinetunes(): Promise<IFinetune[]> {
  return (await get<{ items: IFinetune[] }>('finetunes')).items;
}

export function getFinetune(id: string): Promise<IFinetune> {
  return get<IFinetune>(one(id));
}

/** Metric points with a step above `after`, and the latest train point. */
export function getFinetuneMetrics(id: string, after = -1): Promise<IMetrics> {
  return get<IMetrics>(`${one(id)}/metrics?after=${after}`);
}

export function stopFinetune(id: string): Promise<IFinetune> {
  return post<IFinetune>(`${one(id)}/stop`);
}

export function resumeFinetune(id: string): Promise<IFinetune> {
  return post<IFinetune>(`${one(id)}/resume`);
}

export async function deleteFinetune(id: string): Promise<void> {
  await request(one(id), { method: 'DELETE' });
}

export interface IEvaluateRequest {
  dataset: IDatasetRef | null;
  max_samples?: number;
  max_new_tokens?: number;
}

export function evaluateFinetune(
  id: string,
  request: IEvaluateRequest
): Promise<IEvaluation> {
  return post<IEvaluation>(`${one(id)}/evaluate`, request);
}

export function exportFinetune(
  id: string,
  request: { model_name: string; merge: boolean; notes?: string }
): Promise<IExport> {
  return post<IExport>(`${one(id)}/export`, request);
}

/** The URL of an evaluation's predictions (JSONL, one line per example). */
export function predictionsUrl(id: string, evaluationId: string): string {
  return apiUrl(
    'finetunes',
    encodeURIComponent(id),
    'evaluations',
    encodeURIComponent(evaluationId),
    'predictions'
  );
}

/** The URL of a .tar of the fine-tune's TensorBoard event files. */
export function tensorboardUrl(id: string): string {
  return apiUrl('finetunes', encodeURIComponent(id), 'tensorboard');
}
