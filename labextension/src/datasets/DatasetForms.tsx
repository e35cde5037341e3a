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
import { Field, FormActions, TextField } from '../Field';
import { FormBanner, useFormSubmit } from '../formErrors';

/** The "Create dataset" form: name, data type (text), annotation type, description. */
export function CreateDatasetForm(props: {
  onCreated: (ds: IDataset) => void;
  onCancel: () => void;
}): JSX.Element {
  const [name, setName] = React.useState('');
  const [annotation, setAnnotation] =
    React.useState<AnnotationType>('instruction');
  const [description, setDescription] = React.useState('');
  const form = useFormSubmit([
    'name',
    'annotation_type',
    'description',
    'data_type'
  ]);

  const submit = (e: React.FormEvent): void => {
    e.preventDefault();
    if (!name.trim()) {
      form.setErrors({ name: 'give the dataset a name, e.g. support-tickets' });
      return;
    }
    void form.run(async () =>
      props.onCreated(
        await createDataset({
          name: name.trim(),
          annotation_type: annotation,
          data_type: 'text',
          description: description.trim() || undefined
        })
      )
    );
  };

  const id = 'sxwl-dataset';
  return (
    <form
      className="sxwl-form"
      data-testid="sxwl-dataset-form"
      onSubmit={submit}
      noValidate
    >
      <BackHead
        label="Datasets"
        title="Create dataset"
        onBack={props.onCancel}
      />
      <FormBanner message={form.general} />
      <TextField
        idPrefix={id}
        name="name"
        label="Name"
        value={name}
        onChange={v => {
          setName(v);
          form.clear('name');
        }}
        error={form.errors.name}
        placeholder="support-tickets"
      />
      <Field
        name="data_type"
        label="Data type"
        error={form.errors.data_type}
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
        error={form.errors.annotation_type}
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
      <TextField
        idPrefix={id}
        name="description"
        label="Description"
        value={description}
        onChange={setDescription}
        error={form.errors.description}
        rows={3}
      />
      <FormActions
        testid={`${id}-submit`}
        disabled={form.busy}
        onCancel={props.onCancel}
      >
        {form.busy ? 'Creating…' : 'Create'}
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
  const form = useFormSubmit(['token']);

  const submit = (e: React.FormEvent): void => {
    e.preventDefault();
    if (!token.trim()) {
      form.setErrors({ token: 'paste the share token you were given' });
      return;
    }
    void form.run(async () =>
      props.onAdded(await addSharedDataset(token.trim()))
    );
  };

  const id = 'sxwl-shared';
  return (
    <form
      className="sxwl-form"
      data-testid="sxwl-shared-form"
      onSubmit={submit}
      noValidate
    >
      <BackHead
        label="Datasets"
        title="Add shared dataset"
        onBack={props.onCancel}
      />
      <FormBanner message={form.general} />
      <TextField
        idPrefix={id}
        name="token"
        label="Share token"
        value={token}
        onChange={v => {
          setToken(v);
          form.clear('token');
        }}
        error={form.errors.token}
        hint="The owner makes it with Share on the dataset's page. The dataset is added read-only."
        mono
      />
      <FormActions
        testid={`${id}-submit`}
        disabled={form.busy}
        onCancel={props.onCancel}
      >
        {form.busy ? 'Adding…' : 'Add dataset'}
      </FormActions>
    </form>
  );
}
