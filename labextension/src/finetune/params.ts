/**
 * The fine-tune form's parameters as typed text, read back into the values the
 * API takes, and the method (LoRA, LoRA+, QLoRA, full) they amount to. Pure
 * functions: no React, no HTTP.
 */
import { IFieldError } from '../api';
import { FinetuneMethod, IParamField, ParamValue } from './api';

/** Every parameter as the form holds it: text, or a boolean for a checkbox. */
export type ParamTexts = Record<string, string | boolean>;

export type ParamKind = 'bool' | 'int' | 'float' | 'string';

/** LoRA+'s suggested ratio of the B matrices' learning rate to A's. */
export const LORAPLUS_DEFAULT_RATIO = 16;

/** What input a parameter needs, from its declared type and its default. */
export function paramKind(field: IParamField): ParamKind {
  const type = field.type.toLowerCase();
  if (type.includes('bool') || typeof field.default === 'boolean') {
    return 'bool';
  }
  if (/\bint/.test(type)) {
    return 'int';
  }
  if (/float|number|double/.test(type)) {
    return 'float';
  }
  if (typeof field.default === 'number') {
    return Number.isInteger(field.default) ? 'int' : 'float';
  }
  return 'string';
}

/** True when the parameter may be left empty (sent as null). */
export function isNullable(field: IParamField): boolean {
  return field.nullable ?? field.default === null;
}

/** A value as the form shows it. */
export function toText(value: ParamValue | undefined): string | boolean {
  if (typeof value === 'boolean') {
    return value;
  }
  if (value === null || value === undefined) {
    return '';
  }
  return String(value);
}

/** All parameters of the API's defaults (or a parsed YAML) as form texts. */
export function paramTexts(params: Record<string, ParamValue>): ParamTexts {
  const texts: ParamTexts = {};
  for (const [key, value] of Object.entries(params)) {
    texts[key] = toText(value);
  }
  return texts;
}

/**
 * Read one parameter's text. Returns the value, or a message saying what is
 * wrong with what was typed; range checks are the platform's.
 */
export function readParam(
  field: IParamField,
  text: string | boolean | undefined
): { value: ParamValue } | { error: string } {
  const kind = paramKind(field);
  if (kind === 'bool') {
    return { value: text === true || text === 'true' };
  }
  const raw = typeof text === 'string' ? text.trim() : '';
  if (!raw) {
    if (isNullable(field)) {
      return { value: null };
    }
    if (kind === 'string') {
      return { value: '' };
    }
    return { error: 'enter a number' };
  }
  if (kind === 'string') {
    return { value: raw };
  }
  const value = Number(raw);
  if (!Number.isFinite(value)) {
    return { error: `${raw} is not a number` };
  }
  if (kind === 'int' && !Number.isInteger(value)) {
    return { error: 'enter a whole number' };
  }
  return { value };
}

/** Read every parameter; the errors are keyed by parameter name. */
export function readParams(
  fields: IParamField[],
  texts: ParamTexts
): { params: Record<string, ParamValue>; errors: Record<string, string> } {
  const params: Record<string, ParamValue> = {};
  const errors: Record<string, string> = {};
  for (const field of fields) {
    const result = readParam(field, texts[field.name]);
    if ('error' in result) {
      errors[field.name] = result.error;
    } else {
      params[field.name] = result.value;
    }
  }
  return { params, errors };
}

const filled = (text: string | boolean | undefined): boolean =>
  typeof text === 'string' ? text.trim() !== '' : false;

/** The method the parameters amount to, as the platform names it. */
export function methodOf(texts: ParamTexts): FinetuneMethod {
  if (texts.finetuning_type === 'full') {
    return 'full';
  }
  if (filled(texts.quantization_bit)) {
    return 'QLoRA';
  }
  return filled(texts.loraplus_lr_ratio) ? 'LoRA+' : 'LoRA';
}

/** The parameters changed so that they amount to `method`. */
export function withMethod(
  texts: ParamTexts,
  method: FinetuneMethod
): ParamTexts {
  const next: ParamTexts = { ...texts };
  next.finetuning_type = method === 'full' ? 'full' : 'lora';
  next.quantization_bit = method === 'QLoRA' ? '4' : '';
  if (method === 'LoRA+') {
    if (!filled(next.loraplus_lr_ratio)) {
      next.loraplus_lr_ratio = String(LORAPLUS_DEFAULT_RATIO);
    }
  } else {
    next.loraplus_lr_ratio = '';
  }
  return next;
}

/**
 * The form input an API error names. `params.learning_rate` and
 * `resources.nodes` are shown at their own inputs (named after the
 * parameter), `datasets[0]` at the datasets, `model_version` at the model.
 */
export function errorTarget(
  field: string | null | undefined,
  inputs: ReadonlySet<string>
): string | null {
  const path = String(field ?? '')
    .replace(/^body\./, '')
    .split(/[.[\]]+/)
    .filter(Boolean);
  if (!path.length) {
    return null;
  }
  const [head, second] = path;
  if ((head === 'params' || head === 'resources') && second) {
    return inputs.has(second) ? second : null;
  }
  const aliases: Record<string, string> = {
    model_version: 'model',
    eval_datasets: 'datasets'
  };
  const name = aliases[head] ?? head;
  return inputs.has(name) ? name : null;
}

/** Spread problem+json errors over the form's inputs; the rest in `other`. */
export function spreadErrors(
  errors: IFieldError[],
  inputs: ReadonlySet<string>
): { fields: Record<string, string>; other: string[] } {
  const fields: Record<string, string> = {};
  const other: string[] = [];
  for (const item of errors) {
    const target = errorTarget(item.field, inputs);
    if (target) {
      fields[target] = fields[target]
        ? `${fields[target]}; ${item.message}`
        : item.message;
    } else {
      other.push(item.field ? `${item.field}: ${item.message}` : item.message);
    }
  }
  return { fields, other };
}
