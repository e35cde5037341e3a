/**
 * The form of one record per annotation type. Each edits a copy of the
 * record's data and reports every change with `onChange`; fields the form
 * does not show are kept as they are.
 */
import * as React from 'react';

import { AnnotationType, IRecordIssue, JsonObject } from '../api';
import { issuesOf } from './annotation';

export interface IRecordFormProps {
  data: JsonObject;
  issues: IRecordIssue[];
  readOnly: boolean;
  onChange: (data: JsonObject) => void;
  /** Ranking: the candidates as imported, for "Restore default order". */
  onRestoreOrder?: () => void;
}

/** Messages of one field, under its input. */
function FieldIssues(props: {
  messages: string[];
  field: string;
}): JSX.Element | null {
  if (!props.messages.length) {
    return null;
  }
  return (
    <div
      className="sxwl-field-error"
      data-testid={`sxwl-issue-${props.field}`}
      role="alert"
    >
      {props.messages.map((m, i) => (
        <div key={i}>{m}</div>
      ))}
    </div>
  );
}

function asText(value: unknown): string {
  if (value === null || value === undefined) {
    return '';
  }
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** A labelled text input or textarea bound to one top-level field. */
function TextField(props: {
  field: string;
  label: string;
  data: JsonObject;
  issues: IRecordIssue[];
  readOnly: boolean;
  onChange: (data: JsonObject) => void;
  rows?: number;
  hint?: string;
}): JSX.Element {
  const messages = issuesOf(props.issues, props.field);
  const id = `sxwl-field-${props.field}`;
  const value = asText(props.data[props.field]);
  const change = (
    e: React.ChangeEvent<HTMLInputElement | HTMLTextAreaElement>
  ): void => props.onChange({ ...props.data, [props.field]: e.target.value });
  return (
    <div
      className={`sxwl-field${messages.length ? ' sxwl-field-invalid' : ''}`}
      data-field={props.field}
    >
      <label htmlFor={id}>{props.label}</label>
      {props.rows ? (
        <textarea
          id={id}
          className="jp-mod-styled"
          data-testid={id}
          rows={props.rows}
          value={value}
          readOnly={props.readOnly}
          onChange={change}
          aria-invalid={messages.length ? true : undefined}
        />
      ) : (
        <input
          id={id}
          type="text"
          className="jp-mod-styled"
          data-testid={id}
          value={value}
          readOnly={props.readOnly}
          onChange={change}
          aria-invalid={messages.length ? true : undefined}
        />
      )}
      {props.hint && !messages.length && (
        <div className="sxwl-hint">{props.hint}</div>
      )}
      <FieldIssues messages={messages} field={props.field} />
    </div>
  );
}

/** Fields of the record the form leaves alone (edit them as JSON). */
function OtherFields(props: {
  data: JsonObject;
  shown: string[];
}): JSX.Element | null {
  const others = Object.keys(props.data).filter(
    k =>
      !props.shown.includes(k) &&
      props.data[k] !== '' &&
      props.data[k] !== null &&
      !(
        Array.isArray(props.data[k]) &&
        (props.data[k] as unknown[]).length === 0
      )
  );
  if (!others.length) {
    return null;
  }
  return (
    <div className="sxwl-hint">
      Also in this record: {others.join(', ')} (edit as JSON to change them).
    </div>
  );
}

/** Instruction tuning: instruction, input, output. */
export function InstructionForm(props: IRecordFormProps): JSX.Element {
  const common = {
    data: props.data,
    issues: props.issues,
    readOnly: props.readOnly,
    onChange: props.onChange
  };
  return (
    <div className="sxwl-record-form" data-testid="sxwl-form-instruction">
      <TextField
        {...common}
        field="instruction"
        label="Instruction"
        rows={3}
        hint="What the model is asked to do."
      />
      <TextField
        {...common}
        field="input"
        label="Input"
        rows={3}
        hint="What the instruction works on (may be empty)."
      />
      <TextField
        {...common}
        field="output"
        label="Output"
        rows={5}
        hint="The answer the model should give."
      />
      <OtherFields
        data={props.data}
        shown={['instruction', 'input', 'output']}
      />
    </div>
  );
}

const SIMILAR = 'Similar-Question';

/** Q&A pairs: text, Query, Answer, Match, File, Similar-Question. */
export function QaForm(props: IRecordFormProps): JSX.Element {
  const common = {
    data: props.data,
    issues: props.issues,
    readOnly: props.readOnly,
    onChange: props.onChange
  };
  const similar = props.data[SIMILAR];
  const lines = Array.isArray(similar)
    ? similar.map(asText).join('\n')
    : asText(similar);
  const messages = issuesOf(props.issues, SIMILAR);
  return (
    <div className="sxwl-record-form" data-testid="sxwl-form-qa">
      <TextField
        {...common}
        field="text"
        label="text"
        hint="The source file's name."
      />
      <TextField {...common} field="Query" label="Query" rows={2} />
      <TextField {...common} field="Answer" label="Answer" rows={4} />
      <TextField
        {...common}
        field="Match"
        label="Match"
        hint="How the query matched the source."
      />
      <TextField
        {...common}
        field="File"
        label="File"
        hint="Where in the source the answer is."
      />
      <div
        className={`sxwl-field${messages.length ? ' sxwl-field-invalid' : ''}`}
        data-field={SIMILAR}
      >
        <label htmlFor="sxwl-field-similar">Similar-Question</label>
        <textarea
          id="sxwl-field-similar"
          className="jp-mod-styled"
          data-testid="sxwl-field-Similar-Question"
          rows={3}
          value={lines}
          readOnly={props.readOnly}
          onChange={e =>
            // Kept line by line while typing; empty lines go on save.
            props.onChange({
              ...props.data,
              [SIMILAR]: e.target.value.split('\n')
            })
          }
        />
        {!messages.length && (
          <div className="sxwl-hint">One question per line.</div>
        )}
        <FieldIssues messages={messages} field={SIMILAR} />
      </div>
      <OtherFields
        data={props.data}
        shown={['text', 'Query', 'Answer', 'Match', 'File', SIMILAR]}
      />
    </div>
  );
}

interface ICandidate {
  text?: unknown;
  relevance_rank?: unknown;
  safety_rank?: unknown;
  [key: string]: unknown;
}

const RANKS: { field: 'relevance_rank' | 'safety_rank'; label: string }[] = [
  { field: 'relevance_rank', label: 'Relevance rank' },
  { field: 'safety_rank', label: 'Safety rank' }
];

/** A rank input's text as the value to store: empty is "not ranked". */
function rankValue(text: string): unknown {
  const t = text.trim();
  if (!t) {
    return null;
  }
  const n = Number(t);
  return Number.isFinite(n) ? n : t;
}

/**
 * Reply ranking: the prompt and its candidates, which can be moved up and
 * down and given a relevance and a safety rank (1 = best).
 */
export function RankingForm(props: IRecordFormProps): JSX.Element {
  const raw = props.data.candidates;
  const candidates: ICandidate[] = Array.isArray(raw)
    ? raw.map(c =>
        c && typeof c === 'object' ? (c as ICandidate) : { text: c }
      )
    : [];
  const setCandidates = (next: ICandidate[]): void =>
    props.onChange({ ...props.data, candidates: next });
  const update = (i: number, changes: ICandidate): void =>
    setCandidates(
      candidates.map((c, j) => (j === i ? { ...c, ...changes } : c))
    );
  const move = (i: number, by: number): void => {
    const j = i + by;
    if (j < 0 || j >= candidates.length) {
      return;
    }
    const next = candidates.slice();
    [next[i], next[j]] = [next[j], next[i]];
    setCandidates(next);
  };
  const groupIssues = props.issues
    .filter(i => i.field === 'candidates')
    .map(i => i.message);
  return (
    <div className="sxwl-record-form" data-testid="sxwl-form-ranking">
      <TextField
        data={props.data}
        issues={props.issues}
        readOnly={props.readOnly}
        onChange={props.onChange}
        field="prompt"
        label="Prompt"
        rows={3}
      />
      <div className="sxwl-field" data-field="candidates">
        <div className="sxwl-toolbar sxwl-toolbar-secondary">
          <span>Candidates</span>
          {!props.readOnly && props.onRestoreOrder && (
            <button
              type="button"
              className="jp-Button jp-mod-styled jp-mod-minimal sxwl-link-button"
              data-testid="sxwl-restore-order"
              title="Undo the ranking done here: the candidates as imported"
              onClick={props.onRestoreOrder}
            >
              Restore default order
            </button>
          )}
        </div>
        <FieldIssues messages={groupIssues} field="candidates" />
        <ol className="sxwl-candidates" data-testid="sxwl-candidates">
          {candidates.map((c, i) => {
            const path = `candidates[${i}]`;
            const mine = issuesOf(props.issues, path);
            return (
              <li
                key={i}
                className={`sxwl-candidate${mine.length ? ' sxwl-field-invalid' : ''}`}
                data-testid="sxwl-candidate"
              >
                <div className="sxwl-inline">
                  <span className="sxwl-muted">#{i + 1}</span>
                  <span className="sxwl-grow" />
                  {!props.readOnly && (
                    <>
                      <button
                        type="button"
                        className="jp-Button jp-mod-styled jp-mod-minimal"
                        data-testid="sxwl-candidate-up"
                        aria-label={`Move candidate ${i + 1} up`}
                        title="Move up"
                        disabled={i === 0}
                        onClick={() => move(i, -1)}
                      >
                        ↑
                      </button>
                      <button
                        type="button"
                        className="jp-Button jp-mod-styled jp-mod-minimal"
                        data-testid="sxwl-candidate-down"
                        aria-label={`Move candidate ${i + 1} down`}
                        title="Move down"
                        disabled={i === candidates.length - 1}
                        onClick={() => move(i, 1)}
                      >
                        ↓
                      </button>
                      <button
                        type="button"
                        className="jp-Button jp-mod-styled jp-mod-minimal"
                        aria-label={`Remove candidate ${i + 1}`}
                        title="Remove"
                        onClick={() =>
                          setCandidates(candidates.filter((_, j) => j !== i))
                        }
                      >
                        ×
                      </button>
                    </>
                  )}
                </div>
                <textarea
                  className="jp-mod-styled"
                  data-testid="sxwl-candidate-text"
                  aria-label={`Candidate ${i + 1}`}
                  rows={2}
                  value={asText(c.text)}
                  readOnly={props.readOnly}
                  onChange={e => update(i, { text: e.target.value })}
                />
                <div className="sxwl-pair">
                  {RANKS.map(r => (
                    <label key={r.field} className="sxwl-field">
                      <span>{r.label}</span>
                      <input
                        type="number"
                        min={1}
                        max={candidates.length}
                        className="jp-mod-styled"
                        data-testid={`sxwl-candidate-${r.field}`}
                        value={asText(c[r.field])}
                        readOnly={props.readOnly}
                        onChange={e =>
                          update(i, { [r.field]: rankValue(e.target.value) })
                        }
                      />
                    </label>
                  ))}
                </div>
                <FieldIssues messages={mine} field={path} />
              </li>
            );
          })}
        </ol>
        {!props.readOnly && (
          <button
            type="button"
            className="sxwl-small-link"
            data-testid="sxwl-candidate-add"
            onClick={() => setCandidates([...candidates, { text: '' }])}
          >
            + Add candidate
          </button>
        )}
      </div>
      <OtherFields data={props.data} shown={['prompt', 'candidates']} />
    </div>
  );
}

/** Whether a type is edited in a form (others only as JSON). */
export function hasForm(type: AnnotationType): boolean {
  return type === 'instruction' || type === 'qa' || type === 'ranking';
}

/** The form of an annotation type. */
export function RecordForm(
  props: IRecordFormProps & { type: AnnotationType }
): JSX.Element | null {
  switch (props.type) {
    case 'instruction':
      return <InstructionForm {...props} />;
    case 'qa':
      return <QaForm {...props} />;
    case 'ranking':
      return <RankingForm {...props} />;
    default:
      return null;
  }
}

/**
 * The data as it is saved: list fields typed line by line lose their empty
 * lines. Everything else is sent as edited.
 */
export function finalise(type: AnnotationType, data: JsonObject): JsonObject {
  if (type === 'qa' && Array.isArray(data[SIMILAR])) {
    return {
      ...data,
      [SIMILAR]: (data[SIMILAR] as unknown[]).filter(
        q => !(typeof q === 'string' && q.trim() === '')
      )
    };
  }
  return data;
}
