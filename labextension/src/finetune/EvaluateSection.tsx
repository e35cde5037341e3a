import { HTMLSelect } from '@jupyterlab/ui-components';
import * as React from 'react';

import { IDataset, listDatasets } from '../api';
import { StateBadge } from '../badges';
import { Field } from '../Field';
import { formatTime } from '../format';
import { formErrors } from '../formErrors';
import {
  IEvaluation,
  IFinetune,
  evaluateFinetune,
  predictionsUrl
} from './api';
import { JobLink } from './JobLink';

const SCORE_KEYS = ['rouge-1', 'rouge-2', 'rouge-l', 'bleu-4'] as const;
const SCORE_LABELS: Record<(typeof SCORE_KEYS)[number], string> = {
  'rouge-1': 'ROUGE-1',
  'rouge-2': 'ROUGE-2',
  'rouge-l': 'ROUGE-L',
  'bleu-4': 'BLEU-4'
};

const INPUTS = ['dataset', 'max_samples', 'max_new_tokens'];

/**
 * Evaluate a trained fine-tune: generate on the validation split or a chosen
 * dataset and score ROUGE-1/2/L and BLEU-4 (as LLaMA-Factory does); each
 * evaluation links its predictions.
 */
export function EvaluateSection(props: {
  ft: IFinetune;
  onChange: (ft: IFinetune) => void;
}): JSX.Element {
  const ft = props.ft;
  const [datasets, setDatasets] = React.useState<IDataset[] | null>(null);
  const [dataset, setDataset] = React.useState('');
  const [maxSamples, setMaxSamples] = React.useState('');
  const [maxNewTokens, setMaxNewTokens] = React.useState('');
  const [errors, setErrors] = React.useState<Record<string, string>>({});
  const [general, setGeneral] = React.useState<string | null>(null);
  const [busy, setBusy] = React.useState(false);
  const trained = ft.status === 'Succeeded';

  const loadDatasets = (): void => {
    if (datasets === null) {
      listDatasets()
        .then(ds =>
          setDatasets(
            ds.filter(
              d =>
                d.latest_version !== null &&
                ['instruction', 'sharegpt', 'qa'].includes(d.annotation_type)
            )
          )
        )
        .catch(() => setDatasets([]));
    }
  };

  const start = async (): Promise<void> => {
    const local: Record<string, string> = {};
    const num = (key: string, text: string): number | undefined => {
      if (!text.trim()) {
        return undefined;
      }
      const value = Number(text);
      if (!Number.isInteger(value) || value < 1) {
        local[key] = 'enter a whole number of at least 1, or leave empty';
      }
      return value;
    };
    const request = {
      dataset: dataset ? { name: dataset } : null,
      max_samples: num('max_samples', maxSamples),
      max_new_tokens: num('max_new_tokens', maxNewTokens)
    };
    if (Object.keys(local).length) {
      setErrors(local);
      return;
    }
    setBusy(true);
    setErrors({});
    setGeneral(null);
    try {
      const evaluation = await evaluateFinetune(ft.id, request);
      props.onChange({
        ...ft,
        evaluations: [
          evaluation,
          ...ft.evaluations.filter(e => e.id !== evaluation.id)
        ]
      });
    } catch (err) {
      const shown = formErrors(err, INPUTS);
      setErrors(shown.fields);
      setGeneral(shown.general);
    } finally {
      setBusy(false);
    }
  };

  const id = 'sxwl-ft-eval';
  const evaluations = [...ft.evaluations].sort((a, b) =>
    b.created_at.localeCompare(a.created_at)
  );
  return (
    <details
      className="sxwl-section"
      data-testid="sxwl-ft-evaluate"
      open={ft.evaluations.length > 0 || undefined}
      onToggle={e => {
        if ((e.target as HTMLDetailsElement).open) {
          loadDatasets();
        }
      }}
    >
      <summary>Evaluate</summary>
      {!trained && (
        <div className="sxwl-muted">
          Evaluation needs a fine-tune that has succeeded.
        </div>
      )}
      {general && (
        <div className="sxwl-error-banner" role="alert">
          {general}
        </div>
      )}
      <Field
        name="dataset"
        label="Data"
        error={errors.dataset}
        idPrefix={id}
        hint="The validation split uses val_size of the parameters."
      >
        <HTMLSelect
          className="sxwl-select"
          id={`${id}-dataset`}
          data-testid={`${id}-dataset`}
          value={dataset}
          onFocus={loadDatasets}
          onChange={e => setDataset(e.target.value)}
        >
          <option value="">validation split of the training data</option>
          {(datasets ?? []).map(d => (
            <option key={d.id} value={d.name}>
              {d.name} (latest v{d.latest_version})
            </option>
          ))}
        </HTMLSelect>
      </Field>
      <div className="sxwl-pair">
        <Field
          name="max_samples"
          label="Max samples"
          error={errors.max_samples}
          idPrefix={id}
        >
          <input
            type="text"
            inputMode="numeric"
            className="jp-mod-styled"
            id={`${id}-max_samples`}
            data-testid={`${id}-max_samples`}
            placeholder="all"
            value={maxSamples}
            onChange={e => setMaxSamples(e.target.value)}
          />
        </Field>
        <Field
          name="max_new_tokens"
          label="Max new tokens"
          error={errors.max_new_tokens}
          idPrefix={id}
        >
          <input
            type="text"
            inputMode="numeric"
            className="jp-mod-styled"
            id={`${id}-max_new_tokens`}
            data-testid={`${id}-max_new_tokens`}
            placeholder={String(ft.params.max_new_tokens ?? 128)}
            value={maxNewTokens}
            onChange={e => setMaxNewTokens(e.target.value)}
          />
        </Field>
      </div>
      <div className="sxwl-form-actions">
        <button
          type="button"
          className="jp-Button jp-mod-styled"
          data-testid={`${id}-start`}
          disabled={busy || !trained}
          onClick={() => void start()}
        >
          {busy ? 'Starting…' : 'Evaluate'}
        </button>
      </div>
      <ul className="sxwl-list" data-testid="sxwl-ft-evaluations">
        {evaluations.map(e => (
          <EvaluationRow key={e.id} ftId={ft.id} evaluation={e} />
        ))}
      </ul>
    </details>
  );
}

function EvaluationRow(props: {
  ftId: string;
  evaluation: IEvaluation;
}): JSX.Element {
  const e = props.evaluation;
  const scores = e.scores;
  return (
    <li
      className="sxwl-ft-item"
      data-testid="sxwl-ft-evaluation"
      data-eval-id={e.id}
      data-status={e.status}
    >
      <div className="sxwl-row-head">
        <span className="sxwl-grow">
          {e.dataset
            ? `${e.dataset.name}${e.dataset.version ? ` v${e.dataset.version}` : ''}`
            : 'validation split'}
        </span>
        <StateBadge state={e.status} />
      </div>
      {scores && (
        <dl
          className="sxwl-ft-stats sxwl-ft-scores"
          data-testid="sxwl-ft-scores"
        >
          {SCORE_KEYS.map(k => (
            <div key={k} className="sxwl-ft-stat">
              <dt>{SCORE_LABELS[k]}</dt>
              <dd data-score={k}>{Number(scores[k]).toFixed(2)}</dd>
            </div>
          ))}
          <div className="sxwl-ft-stat">
            <dt>Samples</dt>
            <dd data-score="samples">{scores.samples}</dd>
          </div>
        </dl>
      )}
      {e.message && <div className="sxwl-message">{e.message}</div>}
      <div className="sxwl-row-meta">
        <span>{formatTime(e.created_at)}</span>
        <JobLink jobId={e.job_id} />
        {e.status === 'succeeded' && (
          <a
            href={predictionsUrl(props.ftId, e.id)}
            className="sxwl-ft-link"
            download={`${e.id}-predictions.jsonl`}
            target="_blank"
            rel="noopener noreferrer"
            data-testid="sxwl-ft-predictions"
          >
            predictions (JSONL)
          </a>
        )}
      </div>
    </li>
  );
}
