/** What the panel knows about each annotation type's records. */
import {
  ANNOTATION_TYPES,
  AnnotationType,
  IRecordIssue,
  JsonObject
} from '../api';

/** Short name of an annotation type for lists. */
export function annotationLabel(type: AnnotationType): string {
  switch (type) {
    case 'instruction':
      return 'instruction';
    case 'qa':
      return 'Q&A';
    case 'ranking':
      return 'ranking';
    case 'sharegpt':
      return 'conversations';
    default:
      return ANNOTATION_TYPES.find(t => t.value === type)?.label ?? type;
  }
}

/** The record "Add record" starts from, with the type's fields empty. */
export function emptyRecord(type: AnnotationType): JsonObject {
  switch (type) {
    case 'qa':
      return {
        text: '',
        Query: '',
        Answer: '',
        Match: '',
        File: '',
        'Similar-Question': []
      };
    case 'ranking':
      return { prompt: '', candidates: [{ text: '' }, { text: '' }] };
    case 'sharegpt':
      return {
        conversations: [
          { from: 'human', value: '' },
          { from: 'gpt', value: '' }
        ]
      };
    default:
      return { instruction: '', input: '', output: '' };
  }
}

/**
 * Whether an issue's field path belongs to `field`: `candidates[1].text`
 * belongs to `candidates[1]` and to `candidates`, not to `candidates[10]`.
 */
export function issueBelongsTo(issue: IRecordIssue, field: string): boolean {
  const f = issue.field ?? '';
  return f === field || f.startsWith(`${field}.`) || f.startsWith(`${field}[`);
}

/** Messages of the issues of one field (see `issueBelongsTo`). */
export function issuesOf(issues: IRecordIssue[], field: string): string[] {
  return issues.filter(i => issueBelongsTo(i, field)).map(i => i.message);
}
