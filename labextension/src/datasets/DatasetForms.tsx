import { HTMLSelect } from '@jupyterlab/ui-components';
import * as React from 'react';

import {
  ANNOTATION_TYPES,
  AnnotationType,
  IDataset,
  addSharedDataset,
  createDataset
} from '../api';
import { BackHead } from '../BackHead';
import { Field, FormActions } from '../Field';
import { formErrors } from '../formErrors';

/** The "Create dataset" form: name, data type (text), annotation type, description. */
export function CreateDatasetForm(props: {
  onCreated: (ds: IDataset) => void;
  onCancel: () => void;
}): JSX.Element {
  const [name, setName] = React.useState('');
  const [annotation, setAnnotation] =
    React.useState<AnnotationType>('instruction');
  const [description, setDescription] = React.useState('');
  const [errors, setErrors] = React.useState<Record<string, string>>({});
  const [general, setGeneral] = React.useState<string | null>(null);
  const [busy, setBusy] = React.useState(false);

  const submit = async (e: React.FormEvent): Promise<void> => {
    e.preventDefault();
    if (busy) {
      return;
    }
    if (!name.trim()) {
      setErrors({ name: 'give the dataset a name, e.g. support-tickets' });
      return;
    }
    setBusy(true);
    setErrors({});
    setGeneral(null);
    try {
      const ds = await createDataset({
        name: name.trim(),
        annotation_type: annotation,
        data_type: 'text',
        description: description.trim() || undefined
      });
      props.onCreated(ds);
    } catch (err) {
      const mapped = formErrors(err, [
        'name',
        'annotation_type',
        'description',
        'data_type'
      ]);
      setErrors(mapped.fields);
      setGeneral(mapped.general);
    } finally {
      setBusy(false);
    }
  };

  const id = 'sxwl-dataset';
  return (
    <form
      className="sxwl-form"
      data-testid="sxwl-dataset-form"
      onSubmit={e => void submit(e)}
      noValidate
    >
      <BackHead
        label="Datasets"
        title="Create dataset"
        onBack={props.onCancel}
      />
      {general && (
        <div className="sxwl-error-banner" role="alert">
          {general}
        </div>
      )}
      <Field name="name" label="Name" error={errors.name} idPrefix={id}>
        <input
          type="text"
          className="jp-mod-styled"
          id={`${id}-name`}
          data-testid={`${id}-name`}
          value={name}
          placeholder="support-tickets"
          onChange={e => {
            setName(e.target.value);
            setErrors(x => ({ ...x, name: '' }));
          }}
        />
      </Field>
      <Field
        name="data_type"
        label="Data type"
        error={errors.data_type}
        idPrefix={id}
        hint="Text datasets: JSONL, JSON or CSV records."
      >
        <HTMLSelect
          id={`${id}-data_type`}
          className="sxwl-select"
          value="text"
          disabled
        >
          <option value="text">text</option>
        </HTMLSelect>
      </Field>
      <Field
        name="annotation_type"
        label="Annotation type"
        error={errors.annotation_type}
        idPrefix={id}
      >
        <HTMLSelect
          id={`${id}-annotation_type`}
          className="sxwl-select"
          data-testid={`${id}-annotation_type`}
          value={annotation}
          onChange={e => setAnnotation(e.target.value as AnnotationType)}
        >
          {ANNOTATION_TYPES.map(t => (
            <option key={t.value} value={t.value}>
              {t.label}
            </option>
          ))}
        </HTMLSelect>
      </Field>
      <Field
        name="description"
        label="Description"
        error={errors.description}
        idPrefix={id}
      >
        <textarea
          className="jp-mod-styled"
          id={`${id}-description`}
          data-testid={`${id}-description`}
          rows={3}
          value={description}
          onChange={e => setDescription(e.target.value)}
        />
      </Field>
      <FormActions
        testid={`${id}-submit`}
        disabled={busy}
        onCancel={props.onCancel}
      >
        {busy ? 'Creating…' : 'Create'}
      </FormActions>
    </form>
  );
}

/** "Add shared dataset": a token someone gave the user adds their dataset. */
export function AddSharedDatasetForm(props: {
  onAdded: (ds: IDataset) => void;
  onCancel: () => void;
}): JSX.Element {
  const [token, setToken] = React.useState('');
  const [error, setError] = React.useState<string | null>(null);
  const [general, setGeneral] = React.useState<string | null>(null);
  const [busy, setBusy] = React.useState(false);

  const submit = async (e: React.FormEvent): Promise<void> => {
    e.preventDefault();
    if (busy) {
      return;
    }
    if (!token.trim()) {
      setError('paste the share token you were given');
      return;
    }
    setBusy(true);
    setError(null);
    setGeneral(null);
    try {
      props.onAdded(await addSharedDataset(token.trim()));
    } catch (err) {
      const mapped = formErrors(err, ['token']);
      setError(mapped.fields.token ?? null);
      setGeneral(mapped.general);
    } finally {
      setBusy(false);
    }
  };

  const id = 'sxwl-shared';
  return (
    <form
      className="sxwl-form"
      data-testid="sxwl-shared-form"
      onSubmit={e => void submit(e)}
      noValidate
    >
      <BackHead
        label="Datasets"
        title="Add shared dataset"
        onBack={props.onCancel}
      />
      {general && (
        <div className="sxwl-error-banner" role="alert">
          {general}
        </div>
      )}
      <Field
        name="token"
        label="Share token"
        error={error ?? undefined}
        idPrefix={id}
        hint="The owner makes it with Share on the dataset's page. The dataset is added read-only."
      >
        <input
          type="text"
          className="jp-mod-styled sxwl-mono"
          id={`${id}-token`}
          data-testid={`${id}-token`}
          value={token}
          onChange={e => {
            setToken(e.target.value);
            setError(null);
          }}
        />
      </Field>
      <FormActions
        testid={`${id}-submit`}
        disabled={busy}
        onCancel={props.onCancel}
      >
        {busy ? 'Adding…' : 'Add dataset'}
      </FormActions>
    </form>
  );
}
