import * as React from 'react';

import { StateBadge } from '../badges';
import { Field } from '../Field';
import { formatTime } from '../format';
import { formErrors } from '../formErrors';
import { IExport, IFinetune, exportFinetune } from './api';
import { JobLink } from './JobLink';

const INPUTS = ['model_name', 'merge', 'notes'];

/**
 * Export a trained fine-tune into the model repository: the adapter merged
 * into the base model, or the adapter alone, as a new model version that
 * carries its lineage (base, datasets, parameters, scores).
 */
export function ExportSection(props: {
  ft: IFinetune;
  onChange: (ft: IFinetune) => void;
}): JSX.Element {
  const ft = props.ft;
  const [modelName, setModelName] = React.useState(`${ft.name}-model`);
  const [merge, setMerge] = React.useState(true);
  const [notes, setNotes] = React.useState('');
  const [errors, setErrors] = React.useState<Record<string, string>>({});
  const [general, setGeneral] = React.useState<string | null>(null);
  const [busy, setBusy] = React.useState(false);
  const trained = ft.status === 'Succeeded';
  // A full fine-tune is a whole model already: nothing to merge.
  const isAdapter = ft.method !== 'full';

  const start = async (): Promise<void> => {
    if (!modelName.trim()) {
      setErrors({ model_name: 'name the model the version goes into' });
      return;
    }
    setBusy(true);
    setErrors({});
    setGeneral(null);
    try {
      const answer = await exportFinetune(ft.id, {
        model_name: modelName.trim(),
        merge: isAdapter ? merge : true,
        notes: notes.trim()
      });
      props.onChange({
        ...ft,
        exports: [answer, ...ft.exports.filter(x => x.id !== answer.id)]
      });
    } catch (err) {
      const shown = formErrors(err, INPUTS);
      setErrors(shown.fields);
      setGeneral(shown.general);
    } finally {
      setBusy(false);
    }
  };

  const id = 'sxwl-ft-export';
  const exports = [...ft.exports].sort((a, b) =>
    b.created_at.localeCompare(a.created_at)
  );
  return (
    <details
      className="sxwl-section"
      data-testid="sxwl-ft-export"
      open={ft.exports.length > 0 || undefined}
    >
      <summary>Export to the model repository</summary>
      {!trained && (
        <div className="sxwl-muted">
          Export needs a fine-tune that has succeeded.
        </div>
      )}
      {general && (
        <div className="sxwl-error-banner" role="alert">
          {general}
        </div>
      )}
      <Field
        name="model_name"
        label="Model name"
        error={errors.model_name}
        idPrefix={id}
        hint="A new version of this model (created if you have none by that name)."
      >
        <input
          type="text"
          className="jp-mod-styled"
          id={`${id}-model_name`}
          data-testid={`${id}-model_name`}
          value={modelName}
          onChange={e => setModelName(e.target.value)}
        />
      </Field>
      {isAdapter && (
        <div className="sxwl-field" data-field="merge">
          <label className="sxwl-check">
            <input
              type="radio"
              name={`${id}-merge-${ft.id}`}
              data-testid={`${id}-merge`}
              checked={merge}
              onChange={() => setMerge(true)}
            />
            Merge the adapter into the base model (a standalone model)
          </label>
          <label className="sxwl-check">
            <input
              type="radio"
              name={`${id}-merge-${ft.id}`}
              data-testid={`${id}-adapter`}
              checked={!merge}
              onChange={() => setMerge(false)}
            />
            Keep the adapter alone (small; needs the base model to run)
          </label>
          {errors.merge && (
            <div className="sxwl-field-error" role="alert">
              {errors.merge}
            </div>
          )}
        </div>
      )}
      <Field
        name="notes"
        label="Notes (optional)"
        error={errors.notes}
        idPrefix={id}
      >
        <input
          type="text"
          className="jp-mod-styled"
          id={`${id}-notes`}
          data-testid={`${id}-notes`}
          value={notes}
          onChange={e => setNotes(e.target.value)}
        />
      </Field>
      <div className="sxwl-form-actions">
        <button
          type="button"
          className="jp-Button jp-mod-styled"
          data-testid={`${id}-start`}
          disabled={busy || !trained}
          onClick={() => void start()}
        >
          {busy ? 'Starting…' : 'Export'}
        </button>
      </div>
      <ul className="sxwl-list" data-testid="sxwl-ft-exports">
        {exports.map(x => (
          <ExportRow key={x.id} item={x} />
        ))}
      </ul>
    </details>
  );
}

function ExportRow(props: { item: IExport }): JSX.Element {
  const x = props.item;
  return (
    <li
      className="sxwl-ft-item"
      data-testid="sxwl-ft-export-row"
      data-export-id={x.id}
      data-status={x.status}
    >
      <div className="sxwl-row-head">
        <span className="sxwl-grow" data-testid="sxwl-ft-export-model">
          {x.model
            ? `${x.model.name} v${x.model.version}`
            : 'new model version'}
        </span>
        <span className="sxwl-muted">{x.merge ? 'merged' : 'adapter'}</span>
        <StateBadge state={x.status} />
      </div>
      {x.message && <div className="sxwl-message">{x.message}</div>}
      <div className="sxwl-row-meta">
        <span>{formatTime(x.created_at)}</span>
        <JobLink jobId={x.job_id} />
        {x.status === 'ready' && x.model && (
          <span>
            in the Models tab; mount it or use it as the base of a new fine-tune
          </span>
        )}
      </div>
    </li>
  );
}
