import { Dialog, showDialog } from '@jupyterlab/apputils';
import * as React from 'react';

import {
  IDataset,
  IRecord,
  JsonObject,
  addRecord,
  deleteRecord,
  getDataset,
  getRecord,
  listRecords,
  putRecord,
  restoreRecord
} from '../api';
import { errorText } from '../format';
import { annotationLabel, emptyRecord } from './annotation';
import { RecordForm, finalise, hasForm } from './RecordEditors';
import { confirmed } from '../confirm';

export interface IAnnotationViewProps {
  datasetId: string;
  onBack: () => void;
}

/**
 * What is being edited: the record's data in the type's form, or its text
 * in the JSON editor (always for records that are not a JSON object, and
 * for conversation datasets).
 */
type Editor =
  { mode: 'form'; data: JsonObject } | { mode: 'json'; text: string };

function editorFor(record: IRecord, formAllowed: boolean): Editor {
  if (record.raw !== null || record.data === null) {
    return { mode: 'json', text: record.raw ?? '' };
  }
  if (!formAllowed) {
    return { mode: 'json', text: JSON.stringify(record.data, null, 2) };
  }
  return { mode: 'form', data: record.data };
}

/** The editor's data, or why it cannot be saved (JSON that is not an object). */
function editedData(editor: Editor): JsonObject | string {
  if (editor.mode === 'form') {
    return editor.data;
  }
  let value: unknown;
  try {
    value = JSON.parse(editor.text);
  } catch (e) {
    return `The JSON cannot be read: ${errorText(e)}. Write the record as one JSON object.`;
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return 'A record must be one JSON object, e.g. {"instruction": "…", "output": "…"}.';
  }
  return value as JsonObject;
}

/**
 * Annotation: one record of the working copy at a time, "record i of N",
 * with Previous/Next (which save a changed record first), an "invalid only"
 * filter, the form of the dataset's annotation type or a JSON editor, the
 * record's issues next to their fields, Save, "Mark reviewed", Add and Delete.
 */
export function AnnotationView(props: IAnnotationViewProps): JSX.Element {
  const [ds, setDs] = React.useState<IDataset | null>(null);
  const [invalidOnly, setInvalidOnly] = React.useState(false);
  const [position, setPosition] = React.useState(0);
  const [total, setTotal] = React.useState<number | null>(null);
  const [record, setRecord] = React.useState<IRecord | null>(null);
  const [editor, setEditor] = React.useState<Editor>({
    mode: 'json',
    text: ''
  });
  const [dirty, setDirty] = React.useState(false);
  const [busy, setBusy] = React.useState(false);
  const [error, setError] = React.useState<string | null>(null);
  const [notice, setNotice] = React.useState<string | null>(null);

  const type = ds?.annotation_type ?? 'instruction';
  const formAllowed = hasForm(type);
  const readOnly = ds?.read_only ?? true;

  const show = (rec: IRecord | null): void => {
    setRecord(rec);
    setDirty(false);
    if (rec) {
      setEditor(editorFor(rec, formAllowed && ds !== null));
    }
  };

  /** Show the record at `pos` of the (filtered) list; past the end, the last. */
  const load = async (
    pos: number,
    onlyInvalid: boolean,
    dataset: IDataset | null = ds
  ): Promise<void> => {
    const only = onlyInvalid ? 'invalid' : undefined;
    setBusy(true);
    try {
      let page = await listRecords(props.datasetId, {
        offset: Math.max(0, pos),
        limit: 1,
        only
      });
      if (page.records.length === 0 && page.total > 0) {
        pos = page.total - 1;
        page = await listRecords(props.datasetId, {
          offset: pos,
          limit: 1,
          only
        });
      }
      let rec: IRecord | null = page.records[0] ?? null;
      // Ranking records carry the imported order only in the single-record answer.
      if (rec && dataset?.annotation_type === 'ranking') {
        rec = await getRecord(props.datasetId, rec.id);
      }
      setTotal(page.total);
      setPosition(rec ? Math.max(0, pos) : 0);
      setRecord(rec);
      setDirty(false);
      if (rec) {
        setEditor(
          editorFor(rec, dataset !== null && hasForm(dataset.annotation_type))
        );
      }
      setError(null);
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(false);
    }
  };

  React.useEffect(() => {
    let cancelled = false;
    getDataset(props.datasetId)
      .then(d => {
        if (!cancelled) {
          setDs(d);
          void load(0, false, d);
        }
      })
      .catch(e => setError(errorText(e)));
    return () => {
      cancelled = true;
    };
  }, [props.datasetId]);

  const edit = (next: Editor): void => {
    setEditor(next);
    setDirty(true);
    setNotice(null);
  };

  /** Save the edited data; the saved record, or null when it could not be. */
  const save = async (): Promise<IRecord | null> => {
    if (!record) {
      return null;
    }
    const data = editedData(editor);
    if (typeof data === 'string') {
      setError(data);
      return null;
    }
    setBusy(true);
    try {
      const saved = await putRecord(props.datasetId, record.id, {
        data: finalise(type, data)
      });
      show(saved);
      setError(null);
      setNotice(
        saved.issues.length
          ? `Saved, with ${saved.issues.length} issue${saved.issues.length === 1 ? '' : 's'} left.`
          : 'Saved: the record is valid.'
      );
      return saved;
    } catch (e) {
      setError(errorText(e));
      return null;
    } finally {
      setBusy(false);
    }
  };

  /** Save a changed record before moving away; false when saving failed. */
  const saveIfDirty = async (): Promise<IRecord | null | false> => {
    if (!dirty) {
      return record;
    }
    const saved = await save();
    return saved ?? false;
  };

  const go = async (by: 1 | -1): Promise<void> => {
    const current = await saveIfDirty();
    if (current === false) {
      return;
    }
    setNotice(null);
    // A fixed record leaves the "invalid only" list: the next one moves into
    // its place.
    const left = invalidOnly && current !== null && current.issues.length === 0;
    const target = by === 1 ? (left ? position : position + 1) : position - 1;
    await load(Math.max(0, target), invalidOnly);
  };

  const setFilter = async (value: boolean): Promise<void> => {
    if ((await saveIfDirty()) === false) {
      return;
    }
    setInvalidOnly(value);
    setNotice(null);
    await load(0, value);
  };

  const toggleReviewed = async (value: boolean): Promise<void> => {
    if (!record) {
      return;
    }
    // The box follows the click at once; a refusal puts it back.
    setRecord({ ...record, reviewed: value });
    setBusy(true);
    try {
      // Only the mark: an edit in progress stays in the editor.
      const saved = await putRecord(props.datasetId, record.id, {
        reviewed: value
      });
      setRecord(r => (r && r.id === saved.id ? saved : r));
      setError(null);
    } catch (e) {
      setRecord(r =>
        r && r.id === record.id ? { ...r, reviewed: !value } : r
      );
      setError(errorText(e));
    } finally {
      setBusy(false);
    }
  };

  const add = async (): Promise<void> => {
    if ((await saveIfDirty()) === false) {
      return;
    }
    setBusy(true);
    try {
      const added = await addRecord(props.datasetId, emptyRecord(type));
      setInvalidOnly(false);
      setTotal(added.total ?? (total ?? 0) + 1);
      setPosition(added.index);
      show(added);
      setNotice('Added at the end: fill it in and Save.');
      setError(null);
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(false);
    }
  };

  const remove = async (): Promise<void> => {
    if (!record) {
      return;
    }
    if (
      !(await confirmed(
        'Delete record',
        `Delete record ${position + 1}${
          record.file ? ` (${record.file}:${record.line})` : ''
        } from the working copy? Published versions keep it.`
      ))
    ) {
      return;
    }
    setBusy(true);
    try {
      await deleteRecord(props.datasetId, record.id);
      setNotice('Record deleted.');
    } catch (e) {
      setError(errorText(e));
      setBusy(false);
      return;
    }
    await load(position, invalidOnly);
  };

  const restore = async (what: 'all' | 'order'): Promise<void> => {
    if (!record) {
      return;
    }
    if (what === 'order' && dirty && editor.mode === 'form') {
      // Keep the other changes: put the imported candidates back locally.
      edit({
        mode: 'form',
        data: {
          ...editor.data,
          candidates: JSON.parse(JSON.stringify(record.default_order ?? []))
        }
      });
      setNotice('Default order restored: Save to keep it.');
      return;
    }
    setBusy(true);
    try {
      show(await restoreRecord(props.datasetId, record.id, what));
      setNotice(
        what === 'order'
          ? 'Default order restored.'
          : 'The record is back as it was imported.'
      );
      setError(null);
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(false);
    }
  };

  const back = async (): Promise<void> => {
    if (dirty) {
      const result = await showDialog({
        title: 'Unsaved changes',
        body: 'Save the changes to this record before leaving?',
        buttons: [
          Dialog.cancelButton(),
          Dialog.warnButton({ label: 'Discard' }),
          Dialog.okButton({ label: 'Save' })
        ]
      });
      if (!result.button.accept) {
        return;
      }
      if (result.button.label === 'Save' && (await save()) === null) {
        return;
      }
    }
    props.onBack();
  };

  const toJson = (): void => {
    if (editor.mode === 'form') {
      setEditor({
        mode: 'json',
        text: JSON.stringify(finalise(type, editor.data), null, 2)
      });
    }
  };

  const toForm = (): void => {
    if (editor.mode !== 'json') {
      return;
    }
    const data = editedData(editor);
    if (typeof data === 'string') {
      setError(data);
      return;
    }
    setError(null);
    setEditor({ mode: 'form', data });
  };

  const count = total ?? 0;
  const where = record
    ? record.added
      ? 'added in annotation'
      : `${record.file ?? ''}${record.line !== null ? `:${record.line}` : ''}`
    : '';
  const issues = record?.issues ?? [];

  return (
    <div className="sxwl-annotation" data-testid="sxwl-annotation">
      <div className="sxwl-view-head">
        <button
          className="jp-Button jp-mod-styled jp-mod-minimal sxwl-link-button"
          data-testid="sxwl-back"
          onClick={() => void back()}
        >
          ← {ds?.name ?? 'Dataset'}
        </button>
        <span className="sxwl-grow" />
        {ds && (
          <span className="sxwl-muted">
            {annotationLabel(ds.annotation_type)}
          </span>
        )}
      </div>

      <div
        className="sxwl-ann-position"
        data-testid="sxwl-ann-position"
        data-position={record ? position + 1 : 0}
        data-total={count}
      >
        {total === null
          ? 'Loading…'
          : record
            ? `${invalidOnly ? 'invalid ' : ''}record ${position + 1} of ${count.toLocaleString()}`
            : invalidOnly
              ? 'No invalid records'
              : 'No records'}
      </div>
      <div className="sxwl-toolbar">
        <button
          className="jp-Button jp-mod-styled"
          data-testid="sxwl-ann-prev"
          disabled={busy || !record || position === 0}
          onClick={() => void go(-1)}
        >
          ← Previous
        </button>
        <span className="sxwl-grow" />
        <button
          className="jp-Button jp-mod-styled"
          data-testid="sxwl-ann-next"
          disabled={
            busy ||
            !record ||
            (position + 1 >= count &&
              !(invalidOnly && dirty) &&
              !(invalidOnly && issues.length === 0))
          }
          onClick={() => void go(1)}
        >
          Next →
        </button>
      </div>
      <div className="sxwl-toolbar sxwl-toolbar-secondary">
        <label className="sxwl-check">
          <input
            type="checkbox"
            data-testid="sxwl-ann-invalid-only"
            checked={invalidOnly}
            disabled={busy}
            onChange={e => void setFilter(e.target.checked)}
          />
          Invalid only
        </label>
        {ds && (
          <span className="sxwl-muted" data-testid="sxwl-ann-counts">
            {ds.draft.records.toLocaleString()} records ·{' '}
            {ds.draft.invalid.toLocaleString()} invalid when opened
          </span>
        )}
        {!readOnly && (
          <button
            className="jp-Button jp-mod-styled jp-mod-minimal sxwl-link-button"
            data-testid="sxwl-ann-add"
            disabled={busy || !ds}
            onClick={() => void add()}
          >
            + Add record
          </button>
        )}
      </div>

      {error && (
        <div
          className="sxwl-error-banner"
          data-testid="sxwl-ann-error"
          role="alert"
        >
          {error}
        </div>
      )}
      {notice && (
        <div className="sxwl-success" data-testid="sxwl-ann-notice">
          {notice}
        </div>
      )}

      {total !== null && !record && (
        <div className="sxwl-empty" data-testid="sxwl-ann-empty">
          {invalidOnly
            ? 'Every record is valid.'
            : 'The working copy is empty: import data, or add a record.'}
        </div>
      )}

      {record && (
        <div
          className="sxwl-record"
          data-testid="sxwl-record"
          data-record-id={record.id}
          data-valid={issues.length === 0 ? 'true' : 'false'}
        >
          <div className="sxwl-row-meta">
            <span className="sxwl-mono" title="Where the record came from">
              {where}
            </span>
            {record.edited && <span>edited</span>}
            {dirty && <span className="sxwl-dirty">unsaved changes</span>}
          </div>
          {issues.length > 0 && (
            <div className="sxwl-issues" data-testid="sxwl-record-issues">
              <strong>
                {issues.length} issue{issues.length === 1 ? '' : 's'}
                {dirty ? ' (as last saved)' : ''}:
              </strong>
              <ul>
                {issues.map((issue, i) => (
                  <li key={i}>
                    {issue.field && (
                      <span className="sxwl-mono">{issue.field}: </span>
                    )}
                    {issue.message}
                  </li>
                ))}
              </ul>
            </div>
          )}
          {record.raw !== null && (
            <div className="sxwl-hint">
              This record could not be read as a JSON object. Correct its text
              below into one, e.g. {JSON.stringify(emptyRecord(type))}.
            </div>
          )}

          {editor.mode === 'form' ? (
            <RecordForm
              type={type}
              data={editor.data}
              issues={issues}
              readOnly={readOnly}
              onChange={data => edit({ mode: 'form', data })}
              onRestoreOrder={
                record.default_order ? () => void restore('order') : undefined
              }
            />
          ) : (
            <div className="sxwl-field">
              <label htmlFor="sxwl-record-json">
                {record.raw !== null ? 'Record text' : 'Record (JSON)'}
              </label>
              <textarea
                id="sxwl-record-json"
                className="jp-mod-styled sxwl-mono sxwl-json-editor"
                data-testid="sxwl-record-json"
                rows={14}
                spellCheck={false}
                value={editor.text}
                readOnly={readOnly}
                onChange={e => edit({ mode: 'json', text: e.target.value })}
              />
            </div>
          )}

          <div className="sxwl-actions">
            {!readOnly && (
              <button
                className="jp-Button jp-mod-styled jp-mod-accept"
                data-testid="sxwl-ann-save"
                disabled={busy || !dirty}
                onClick={() => void save()}
              >
                Save
              </button>
            )}
            {!readOnly && (
              <label className="sxwl-check" title="Mark the record as checked">
                <input
                  type="checkbox"
                  data-testid="sxwl-ann-reviewed"
                  checked={record.reviewed}
                  disabled={busy}
                  onChange={e => void toggleReviewed(e.target.checked)}
                />
                Reviewed
              </label>
            )}
            <span className="sxwl-grow" />
            {formAllowed && record.raw === null && (
              <button
                className="jp-Button jp-mod-styled jp-mod-minimal sxwl-link-button"
                data-testid="sxwl-ann-json-toggle"
                onClick={editor.mode === 'form' ? toJson : toForm}
              >
                {editor.mode === 'form' ? 'Edit as JSON' : 'Edit in form'}
              </button>
            )}
            {!readOnly && record.edited && !record.added && (
              <button
                className="jp-Button jp-mod-styled jp-mod-minimal"
                data-testid="sxwl-ann-restore"
                title="Undo every change to this record: back to the imported one"
                disabled={busy}
                onClick={() => void restore('all')}
              >
                Restore imported
              </button>
            )}
            {!readOnly && (
              <button
                className="jp-Button jp-mod-styled jp-mod-warn"
                data-testid="sxwl-ann-delete"
                disabled={busy}
                onClick={() => void remove()}
              >
                Delete record
              </button>
            )}
          </div>
        </div>
      )}
    </div>
  );
}
